//! Wider vectors for the kernels' own loops (depthwise taps, activations): the release build
//! targets baseline x86-64 (SSE2, 4 lanes), so a loop is compiled a second time for AVX2 and
//! run there when the CPU has it. gemm does its own dispatch (AVX-512 with `x86-v4`); wasm gets
//! simd128 from `.cargo/config.toml`.
#![allow(unsafe_code)]

/// Runs `body`, compiled for AVX2 where the CPU has it. `body` should be an `#[inline(always)]`
/// closure around `#[inline(always)]` code, so that it is compiled inside the AVX2 function.
#[inline(always)]
pub fn dispatch<R>(body: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX and AVX2 (checked just above).
            return unsafe { with_avx2(body) };
        }
    }
    body()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx,avx2")]
fn with_avx2<R>(body: impl FnOnce() -> R) -> R {
    body()
}
