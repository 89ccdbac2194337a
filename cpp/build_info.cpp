#include "build_info.h"

#include "blas.h"
#include "gathered_products.h"
#include "parallel.h"

#ifndef FASTMLP_CXX_FLAGS
#define FASTMLP_CXX_FLAGS "unknown"
#endif
#ifndef FASTMLP_BLAS_KIND
#define FASTMLP_BLAS_KIND "unknown"
#endif
#ifndef FASTMLP_BUILD_TYPE
#define FASTMLP_BUILD_TYPE "unknown"
#endif

namespace fastmlp {

std::map<std::string, std::string> build_info() {
    std::map<std::string, std::string> info;
    info["blas"] = FASTMLP_BLAS_KIND;
    info["blas_config"] = blas_description();
#ifdef _OPENMP
    info["openmp"] = "yes (" + std::to_string(_OPENMP) + ")";
#else
    info["openmp"] = "no";
#endif
#if defined(__clang__)
    info["compiler"] = std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
    info["compiler"] = std::string("gcc ") + __VERSION__;
#else
    info["compiler"] = "unknown";
#endif
    info["cxx_flags"] = FASTMLP_CXX_FLAGS;
    info["build_type"] = FASTMLP_BUILD_TYPE;
    info["threads"] = std::to_string(get_num_threads());
    // The vector width of the small-batch split step's own kernels on this CPU (64: AVX-512).
    info["gathered_vector_bytes"] = std::to_string(gathered_vector_bytes());
    // The BLAS's (blas.h); where the own kernels' are wider, they take the larger products too (gathered_outrun_blas).
    info["blas_vector_bytes"] = std::to_string(blas_vector_bytes());
    return info;
}

}  // namespace fastmlp
