// Thread control for the BLAS and OpenMP. A system BLAS may or may not be OpenBLAS/MKL: weak symbols let us
// call their thread setters when present without making them a link requirement.
#include <algorithm>
#include <atomic>
#include <cctype>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "blas.h"
#include "float_mode.h"
#include "parallel.h"

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__)
#include <xmmintrin.h>
#define FASTMLP_MXCSR 1
#endif

#if defined(FASTMLP_MKL)
#include <mkl_service.h>
#ifndef _OPENMP
#error "FASTMLP_BLAS=mkl links MKL's sequential layer and needs OpenMP to thread the products (CMakeLists.txt)"
#endif
#elif !defined(FASTMLP_SCIPY_OPENBLAS)
#define FASTMLP_SYSTEM_BLAS 1
extern "C" {
void openblas_set_num_threads(int) __attribute__((weak));
int openblas_get_num_threads(void) __attribute__((weak));
char* openblas_get_config(void) __attribute__((weak));
char* openblas_get_corename(void) __attribute__((weak));
void MKL_Set_Num_Threads(int) __attribute__((weak));
int MKL_Get_Max_Threads(void) __attribute__((weak));
// OpenBLAS >= 0.3.28 lets the caller run its parallel jobs (the same callback types as scipy-openblas).
typedef void (*openblas_dojob_callback)(int thread_num, void* jobdata, int dojob_data);
typedef void (*openblas_threads_callback)(int sync, openblas_dojob_callback dojob, int numjobs,
                                          size_t jobdata_elsize, void* jobdata, int dojob_data);
void openblas_set_threads_callback_function(openblas_threads_callback) __attribute__((weak));
}
#endif

namespace fastmlp {

namespace {
std::atomic<int> g_threads{0};  // 0 until set: the libraries' own defaults apply

#if defined(_OPENMP) && defined(FASTMLP_SYSTEM_BLAS)
// A system OpenBLAS hands its parallel work here instead of to its own pthreads, so BLAS calls and our element-wise
// OpenMP loops share one pool of threads: no two pools spinning against each other on the same cores
// (measured on 2 cores: a 784-256-10 SGD epoch ran 6x slower with both pools active).
// OpenBLAS's level-3 jobs wait on each other's packed panels, so all numjobs must run at the same time, one per
// thread; should OpenMP grant a smaller team, the missing jobs get threads of their own rather than deadlock.
// Every job runs in the caller's floating-point mode (see float_mode.h), whichever thread takes it.
extern "C" void run_blas_jobs_on_openmp(int /*sync*/, openblas_dojob_callback dojob, int numjobs,
                                        std::size_t job_size, void* jobs, int dojob_data) {
    const unsigned caller_mode = read_float_mode();
    auto run = [&](int j) {
        InCallerFloatMode mode(caller_mode);
        dojob(j, static_cast<char*>(jobs) + std::size_t(j) * job_size, dojob_data);
    };
    if (numjobs == 1) return run(0);
#pragma omp parallel num_threads(numjobs)
    {
        const int tid = omp_get_thread_num(), team = omp_get_num_threads();
        std::vector<std::thread> extra;
        if (tid == 0)
            for (int j = team; j < numjobs; ++j) extra.emplace_back(run, j);
        run(tid);
        for (std::thread& t : extra) t.join();
    }
}
#endif
}  // namespace

unsigned read_float_mode() {
#if defined(FASTMLP_MXCSR)
    return _mm_getcsr();
#elif defined(__aarch64__)
    unsigned long fpcr;
    __asm__ __volatile__("mrs %0, fpcr" : "=r"(fpcr));
    return unsigned(fpcr);
#else
    return 0;
#endif
}

void write_float_mode(unsigned mode) {
#if defined(FASTMLP_MXCSR)
    _mm_setcsr(mode);
#elif defined(__aarch64__)
    unsigned long fpcr = mode;
    __asm__ __volatile__("msr fpcr, %0" : : "r"(fpcr));
#else
    (void)mode;
#endif
}

namespace {
#if defined(FASTMLP_MXCSR)
constexpr unsigned kFlushBits = 0x8040u;  // FTZ (bit 15): results; DAZ (bit 6): inputs
#elif defined(__aarch64__)
constexpr unsigned kFlushBits = 1u << 24;  // FZ
#else
constexpr unsigned kFlushBits = 0;
#endif
}  // namespace

unsigned flushing_float_mode(unsigned mode) { return mode | kFlushBits; }

// Only the calling thread's mode is set: every region of a call runs each thread in the caller's mode
// (on_team, the split products, the BLAS job callback). Afterwards the team's threads get the caller's flush bits
// back, not a mode saved per thread: a thread that OpenMP creates while the caller flushes inherits the flushing
// mode (POSIX threads inherit the floating-point environment), so it has no mode of its own to go back to. As
// many threads as the call may have used: the count when it began or now, whichever is larger (a gradient hook
// may have changed it meanwhile); no region for one thread (libgomp would allocate a team for it).
FlushSubnormals::FlushSubnormals(bool also_threads)
    : saved_(read_float_mode()), threads_(also_threads ? omp_threads() : 1) {
    write_float_mode(flushing_float_mode(saved_));
}

FlushSubnormals::~FlushSubnormals() {
    const unsigned caller_bits = saved_ & kFlushBits;
#ifdef _OPENMP
    const int threads = threads_ > 1 ? std::max(threads_, omp_threads()) : 1;
    if (threads > 1 && omp_get_level() == 0) {
#pragma omp parallel num_threads(threads)
        write_float_mode((read_float_mode() & ~kFlushBits) | caller_bits);
    }
#endif
    write_float_mode(saved_);
}

// MKL's sequential layer never threads: nothing to share.
void share_blas_and_openmp_threads() {
#if defined(FASTMLP_SCIPY_OPENBLAS) && defined(FASTMLP_SPLIT_GEMM)
    scipy_openblas_set_num_threads(1);  // gemm.cpp threads the products
#elif defined(_OPENMP) && defined(FASTMLP_SYSTEM_BLAS)
    if (openblas_set_threads_callback_function) openblas_set_threads_callback_function(run_blas_jobs_on_openmp);
#endif
}

int omp_threads() {
#ifdef _OPENMP
    const int configured = g_threads.load();
    return configured > 0 ? configured : omp_get_max_threads();
#else
    return 1;
#endif
}

void set_num_threads(int n) {
    if (n < 1) throw std::invalid_argument("set_num_threads: n must be >= 1, got " + std::to_string(n));
#if defined(FASTMLP_SCIPY_OPENBLAS)
    scipy_openblas_set_num_threads(kGemmPerThread ? 1 : n);  // with FASTMLP_SPLIT_GEMM gemm.cpp threads the products
#elif defined(FASTMLP_SYSTEM_BLAS)
    if (openblas_set_num_threads) openblas_set_num_threads(n);
    if (MKL_Set_Num_Threads) MKL_Set_Num_Threads(n);
#endif
#ifdef _OPENMP
    omp_set_num_threads(n);
#endif
    g_threads = n;
}

int get_num_threads() {
#if defined(FASTMLP_SPLIT_GEMM)
    return omp_threads();
#elif defined(FASTMLP_SCIPY_OPENBLAS)
    return scipy_openblas_get_num_threads();
#else
    if (openblas_get_num_threads) return openblas_get_num_threads();
    if (MKL_Get_Max_Threads) return MKL_Get_Max_Threads();
    return g_threads > 0 ? int(g_threads) : omp_threads();
#endif
}

std::string blas_description() {
#if defined(FASTMLP_SCIPY_OPENBLAS)
    return std::string("scipy-openblas32 ") + scipy_openblas_get_config() + " core=" +
           scipy_openblas_get_corename();
#elif defined(FASTMLP_MKL)
    char version[256];
    MKL_Get_Version_String(version, int(sizeof version));
    return std::string(version) + " (sequential; fastmlp threads the products)";
#else
    if (openblas_get_config)
        return std::string("system OpenBLAS ") + openblas_get_config() + " core=" + openblas_get_corename();
    if (MKL_Get_Max_Threads) return "Intel MKL";
    return "system BLAS (FindBLAS)";
#endif
}

int blas_vector_bytes() {
    std::string kernels;  // what the BLAS says of the kernels it runs
#if defined(FASTMLP_SCIPY_OPENBLAS)
    kernels = scipy_openblas_get_corename();
#elif defined(FASTMLP_MKL)
    MKLVersion version;
    mkl_get_version(&version);
    kernels = version.Processor;  // "Intel(R) Advanced Vector Extensions 512 (Intel(R) AVX-512) enabled ..."
#else
    if (openblas_get_corename) kernels = openblas_get_corename();
#endif
    std::transform(kernels.begin(), kernels.end(), kernels.begin(), [](unsigned char c) { return std::tolower(c); });
    for (const char* wide : {"skylakex", "cooperlake", "sapphirerapids", "avx-512"})
        if (kernels.find(wide) != std::string::npos) return 64;
    return 32;
}

}  // namespace fastmlp
