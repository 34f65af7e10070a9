// tests/checked/opaque.h: keeps the compiler from proving the corpus's bugs away (the programs
// are built at -O0, but these also stop GCC's warnings from deciding the test's shape).
#pragma once
#ifdef __cplusplus
extern "C" {
#endif
static inline void* opaque(void* p) {
  __asm__ volatile("" : "+r"(p));
  return p;
}
#ifdef __cplusplus
}
#endif

// A conservative leak scan (memkit's, LeakSanitizer's) treats any word on a live stack as a
// possible pointer. The leak programs lose their pointers in a function that has returned, whose
// dead frame the exit path may not overwrite; this zeroes that stack area first, so that the
// test shows the scan's semantics and not what happened to be left in dead frames.
#ifdef __cplusplus
extern "C" {
#endif
static __attribute__((noinline)) void scrub_stack(void) {
  volatile char area[32768];
  for (unsigned i = 0; i < sizeof area; ++i) area[i] = 0;
}
#ifdef __cplusplus
}
#endif
