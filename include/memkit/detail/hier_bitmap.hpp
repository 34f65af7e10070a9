// memkit — hierarchical bitmap (include/memkit/detail/hier_bitmap.hpp)
//
// A set of bit positions [0, n) over caller-provided words, with O(log64 n) set/clear and
// find-first-set. The buddy allocator keeps one per order: bit i set <=> block i of that order
// is on the free list. "Lowest-addressed free block of order k" is then find_first() on the
// order's bitmap, without walking a list.
//
//   level 0:  n bits, one per position            words[off[0] .. off[0]+w0)
//   level 1:  one bit per level-0 word: "that word is non-zero"
//   ...
//   level L:  a single word (the summary)
//
// Memory comes from the caller (words_needed(n) uint64_t words, zeroed by init()); nothing here
// allocates. Not thread-safe: the owner serialises.
#pragma once

#include <cstddef>
#include <cstdint>

namespace memkit::detail {

class HierBitmap {
 public:
  static constexpr size_t kNone = ~size_t{0};
  static constexpr unsigned kMaxLevels = 8;  // 64^8 = 2^48 bits

  /// Words needed for n bits (n may be 0: one word is still used so find_first works).
  static constexpr size_t words_needed(size_t n) {
    size_t total = 0;
    size_t bits = n;
    for (;;) {
      size_t w = (bits + 63) / 64;
      if (w == 0) w = 1;
      total += w;
      if (w == 1) return total;
      bits = w;
    }
  }

  /// Lays the bitmap over `words` (words_needed(n) of them) and clears every bit.
  void init(uint64_t* words, size_t n) {
    words_ = words;
    n_ = n;
    levels_ = 0;
    size_t bits = n;
    size_t off = 0;
    for (;;) {
      size_t w = (bits + 63) / 64;
      if (w == 0) w = 1;
      off_[levels_++] = off;
      off += w;
      if (w == 1) break;
      bits = w;
    }
    for (size_t i = 0; i < off; ++i) words_[i] = 0;
  }

  size_t size() const { return n_; }

  bool test(size_t i) const { return (words_[off_[0] + (i >> 6)] >> (i & 63)) & 1u; }

  void set(size_t i) {
    for (unsigned l = 0; l < levels_; ++l) {
      uint64_t& w = words_[off_[l] + (i >> 6)];
      const bool was_zero = (w == 0);
      w |= uint64_t{1} << (i & 63);
      if (!was_zero) return;  // upper levels already say "non-empty"
      i >>= 6;
    }
  }

  void clear(size_t i) {
    for (unsigned l = 0; l < levels_; ++l) {
      uint64_t& w = words_[off_[l] + (i >> 6)];
      w &= ~(uint64_t{1} << (i & 63));
      if (w != 0) return;  // the word still has bits: upper levels unchanged
      i >>= 6;
    }
  }

  /// Lowest set position, or kNone.
  size_t find_first() const {
    unsigned l = levels_ - 1;
    uint64_t w = words_[off_[l]];
    if (w == 0) return kNone;
    size_t i = static_cast<size_t>(__builtin_ctzll(w));
    while (l-- > 0) {
      w = words_[off_[l] + i];
      i = (i << 6) | static_cast<size_t>(__builtin_ctzll(w));
    }
    return i;
  }

  /// Calls fn(i) for every set position, lowest first (fn must not change the bitmap). The
  /// summary levels skip empty stretches of 4096 positions (two levels) at a time.
  template <typename Fn>
  void for_each_set(Fn&& fn) const {
    const size_t words0 = (n_ + 63) / 64;
    for (size_t w = 0; w < words0; ++w) {
      if (levels_ > 1 && (w & 63) == 0 && words_[off_[1] + (w >> 6)] == 0) {
        w += 63;  // the next summary word says these 64 words are empty
        continue;
      }
      for (uint64_t bits = words_[off_[0] + w]; bits != 0; bits &= bits - 1)
        fn((w << 6) | static_cast<size_t>(__builtin_ctzll(bits)));
    }
  }

 private:
  uint64_t* words_ = nullptr;
  size_t n_ = 0;
  unsigned levels_ = 0;
  size_t off_[kMaxLevels] = {};
};

}  // namespace memkit::detail
