// Subnormal floats are flushed to zero while a Network trains or predicts.
// Why: a saturated sigmoid or softmax yields values below 1.2e-38 (float), and x86 cores take a slow microcode
// path for every instruction that reads or writes one; once training saturates some units, GEMMs and
// element-wise passes slow down by up to 1.5x (measured: a 784-256-10 SGD epoch at learning rate 0.1, 67 -> 46
// ms). Values that small change no result that matters in float, which is why TensorFlow and oneDNN flush too.
// What: the FTZ and DAZ bits of MXCSR (x86-64) or FZ of FPCR (AArch64), set for one call on the calling thread,
// on the OpenMP threads of the call's loops and on every thread that runs one of its BLAS jobs, and restored
// afterwards, so neither the caller's nor another library's floating-point mode leaks. The kernels bound one
// by one for the parity tests do not flush: they compute exactly what IEEE arithmetic gives.
#pragma once

namespace fastmlp {

unsigned read_float_mode();
void write_float_mode(unsigned mode);
// The mode with subnormal inputs and results treated as zero.
unsigned flushing_float_mode(unsigned mode);

// RAII: a worker thread runs in its caller's mode (read on the calling thread) while it lives, then goes back to its
// own: how the BLAS jobs and the blocks of a split product keep the caller's flush bits on every thread.
class InCallerFloatMode {
   public:
    explicit InCallerFloatMode(unsigned caller_mode) : own_(read_float_mode()), caller_(caller_mode) {
        if (own_ != caller_) write_float_mode(caller_);
    }
    ~InCallerFloatMode() {
        if (own_ != caller_) write_float_mode(own_);
    }
    InCallerFloatMode(const InCallerFloatMode&) = delete;
    InCallerFloatMode& operator=(const InCallerFloatMode&) = delete;

   private:
    unsigned own_, caller_;
};

// RAII: the calling thread flushes subnormals while it lives, and so do the threads of its parallel loops, which
// adopt the caller's mode for each region. With also_threads (set when the loops fork at all), the OpenMP team's
// threads get the caller's flush bits back at the end (a fork/join: see threads.cpp).
class FlushSubnormals {
   public:
    explicit FlushSubnormals(bool also_threads);
    ~FlushSubnormals();
    FlushSubnormals(const FlushSubnormals&) = delete;
    FlushSubnormals& operator=(const FlushSubnormals&) = delete;

   private:
    unsigned saved_;
    int threads_;  // the team size when the call began; 1 without also_threads
};

}  // namespace fastmlp
