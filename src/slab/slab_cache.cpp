// memkit — object caches: the slab layer (src/slab/slab_cache.cpp)
//
// Everything here runs under the cache's lock except init, the debug checks and the lookups.
// The magazine layer (magazine.cpp) sits in front and calls alloc_batch_locked/free_batch_locked.
#include "slab/slab_cache.h"

#include <errno.h>

#include <cstdio>
#include <cstring>

#include "memkit/memkit.h"
#include "os/report.h"
#include "slab/magazine.h"
#include "slab/registry.h"
#include "slab/slab_page.h"

namespace memkit {

uintptr_t g_free_key = 0;

namespace {

constexpr uint8_t kPoisonInuse = 0x5a;  // POISON_INUSE: allocated, not yet written
constexpr uint8_t kPoisonFree = 0x6b;   // POISON_FREE
constexpr uint8_t kPoisonEnd = 0xa5;    // POISON_END
constexpr uint8_t kRedInactive = 0xbb;  // SLUB_RED_INACTIVE: the object is free
constexpr uint8_t kRedActive = 0xcc;    // SLUB_RED_ACTIVE: the object is allocated
constexpr size_t kCacheLine = 64;
constexpr size_t kMinAlign = sizeof(void*);
constexpr size_t kKeepEmptySlabs = 2;   // empty slabs kept for reuse before going back

struct LockGuard {
  explicit LockGuard(pthread_mutex_t* m) : m_(m) { pthread_mutex_lock(m_); }
  ~LockGuard() { pthread_mutex_unlock(m_); }
  LockGuard(const LockGuard&) = delete;
  LockGuard& operator=(const LockGuard&) = delete;
  pthread_mutex_t* m_;
};

pthread_once_t g_free_key_once = PTHREAD_ONCE_INIT;

void make_free_key() {
  uintptr_t key = 0;
  while (key == 0) os::random_bytes(&key, sizeof key);  // 0 is what allocation writes
  g_free_key = key;
}

size_t align_up(size_t x, size_t a) { return (x + a - 1) & ~(a - 1); }
bool is_pow2(size_t x) { return x != 0 && (x & (x - 1)) == 0; }

// 1..kSlabNameLen-1 printable characters with no blank: slabinfo's columns are split at
// whitespace (the kernel warns about spaces in cache names for the same reason).
bool valid_name(const char* name) {
  if (name == nullptr || name[0] == '\0') return false;
  size_t n = 0;
  for (; name[n] != '\0'; ++n)
    if (n + 1 >= kSlabNameLen || name[n] <= ' ' || name[n] == 0x7f) return false;
  return true;
}

// First byte in [p, p + n) that is not `value`, or -1.
long find_mismatch(const void* p, size_t n, uint8_t value) {
  const uint8_t* b = static_cast<const uint8_t*>(p);
  for (size_t i = 0; i < n; ++i)
    if (b[i] != value) return static_cast<long>(i);
  return -1;
}

}  // namespace

// ---- set-up ----

int SlabCache::geometry(size_t size, size_t align, unsigned flags, bool has_ctor,
                        size_t page_size, unsigned max_order, SlabGeometry* out) {
  const size_t page = page_size;
  if (size == 0 || size > (page << max_order) || (align != 0 && (!is_pow2(align) || align > page)))
    return EINVAL;
  SlabGeometry g{};

  // The kernel's calculate_alignment().
  if (flags & kSlabHwcacheAlign) {
    size_t ralign = kCacheLine;
    while (size <= ralign / 2) ralign /= 2;
    if (ralign > align) align = ralign;
  }
  if (align < kMinAlign) align = kMinAlign;
  g.align = align_up(align, sizeof(void*));

  // Slot layout: [red zone L][object][red zone R][free words?], padded to the alignment.
  const bool red = flags & kSlabRedZone;
  g.red_left = red ? align_up(sizeof(void*), g.align) : 0;
  g.obj_offset = g.red_left;
  size_t p = g.obj_offset + size;
  if (red) {
    const size_t end = align_up(p, sizeof(void*)) + sizeof(void*);
    g.red_right = end - p;
    p = end;
  }
  // The free words (the free key, then the free pointer) overlay the object, unless the object
  // must keep its contents while free, or is smaller than the two words with a red zone right
  // behind it. A smaller object's slot grows to hold them (kmalloc-8's slots are 16 bytes).
  constexpr size_t kFreeWords = 2 * sizeof(void*);
  const bool keep_contents = has_ctor || (flags & kSlabPoison) != 0;
  if (keep_contents || (red && size < kFreeWords)) {
    p = align_up(p, sizeof(void*));
    g.key_offset = p;
    p += kFreeWords;
  } else {
    g.key_offset = g.obj_offset;
    if (p < g.obj_offset + kFreeWords) p = g.obj_offset + kFreeWords;
  }
  g.free_offset = g.key_offset + sizeof(void*);
  g.slot_size = align_up(p, g.align);

  // The smallest slab order whose leftover is at most 1/8 of the slab (Bonwick's bound).
  unsigned order = max_order + 1;
  for (unsigned k = 0; k <= max_order; ++k) {
    const size_t bytes = page << k;
    const size_t n = bytes / g.slot_size;
    if (n == 0) continue;
    if ((bytes - n * g.slot_size) * 8 <= bytes) {
      order = k;
      break;
    }
  }
  if (order > max_order) {
    // No order meets the bound: take the one with the least waste.
    size_t best_waste = ~size_t{0};
    for (unsigned k = 0; k <= max_order; ++k) {
      const size_t bytes = page << k;
      const size_t n = bytes / g.slot_size;
      if (n == 0) continue;
      const size_t waste = (bytes - n * g.slot_size) * 1000 / bytes;
      if (waste < best_waste) {
        best_waste = waste;
        order = k;
      }
    }
    if (order > max_order) return EINVAL;
  }
  g.order = order;
  const size_t slab_bytes = page << order;
  g.objects = static_cast<unsigned>(slab_bytes / g.slot_size);
  g.leftover = slab_bytes - g.objects * g.slot_size;
  // Colours: first-object offsets 0, align, 2*align, ... up to the leftover.
  g.colours = g.leftover / g.align + 1;
  *out = g;
  return 0;
}

int SlabCache::init(PageHeap* heap, const char* name, size_t size, size_t align, unsigned flags,
                    void (*ctor)(void*), unsigned fixed_index, uint8_t page_id) {
  SlabGeometry g;
  if (!valid_name(name) ||
      geometry(size, align, flags, ctor != nullptr, heap->page_size(),
               heap->config().arena.max_order, &g) != 0)
    return EINVAL;

  pthread_once(&g_free_key_once, make_free_key);  // before any slab of any cache
  heap_ = heap;
  std::strncpy(name_, name, kSlabNameLen - 1);
  object_size_ = size;
  flags_ = flags;
  ctor_ = ctor;
  align_ = g.align;
  red_left_ = g.red_left;
  red_right_ = g.red_right;
  obj_offset_ = g.obj_offset;
  key_delta_ = static_cast<ptrdiff_t>(g.key_offset) - static_cast<ptrdiff_t>(g.obj_offset);
  free_offset_ = g.free_offset;
  size_ = g.slot_size;
  fastmod_m_ = ~uint64_t{0} / size_ + 1;
  order_ = g.order;
  objects_ = g.objects;
  span_ = size_t{objects_} * size_;
  slab_mask_ = (uintptr_t{heap->page_size()} << order_) - 1;
  colour_count_ = g.colours;
  colour_next_ = 0;

  magazine_size_ = (flags & kSlabNoMagazines) ? 0 : magazine_capacity_for(size_);
  slow_flags_ = (flags & (kSlabRedZone | kSlabPoison)) | (magazine_size_ == 0 ? kSlabNoMagazines : 0);
  os::random_bytes(&secret_, sizeof secret_);
  for (SlabList& lane : partial_) lane = SlabList{};
  full_ = empty_ = SlabList{};
  active_objs_ = num_slabs_ = 0;
  allocs_ = frees_ = grows_ = reaps_ = 0;
  depot_full_ = depot_empty_ = nullptr;
  depot_full_count_ = depot_empty_count_ = 0;
  // Adaptive: a thread that finds the lock taken spins a little before it sleeps. The lock is
  // held for a depot exchange or a batch of slab work (microseconds); two threads freeing in
  // bulk meet on it, and a futex sleep and wake-up per meeting cost more than the wait.
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ADAPTIVE_NP);
  pthread_mutex_init(&lock_, &attr);
  pthread_mutexattr_destroy(&attr);
  page_id_ = page_id;
  if (fixed_index != kAnyIndex) {
    if (registry_add_at(this, fixed_index) != 0) return ENOSPC;
    index_ = fixed_index;
    return 0;
  }
  return registry_add(this, &index_);
}

// ---- free pointers (safe-linking) ----

void* SlabCache::encode(void* next, void* const* where) const {
  return reinterpret_cast<void*>(reinterpret_cast<uintptr_t>(next) ^
                                 (reinterpret_cast<uintptr_t>(where) >> 12) ^ secret_);
}

void* SlabCache::decode(void* stored, void* const* where) const {
  return encode(stored, where);  // xor is its own inverse
}

// ---- slab lists ----

void SlabCache::list_add(SlabList* list, PageDesc* slab) {
  slab_page::set_prev(slab, nullptr);
  slab_page::set_next(slab, list->head);
  if (list->head != nullptr) slab_page::set_prev(list->head, slab);
  list->head = slab;
  ++list->count;
}

void SlabCache::list_del(SlabList* list, PageDesc* slab) {
  PageDesc* prev = slab_page::prev(slab);
  PageDesc* next = slab_page::next(slab);
  if (prev != nullptr)
    slab_page::set_next(prev, next);
  else
    list->head = next;
  if (next != nullptr) slab_page::set_prev(next, prev);
  --list->count;
}

// ---- lookups ----

bool SlabCache::is_object_start(const PageDesc* slab, const void* p) const {
  const uintptr_t base = reinterpret_cast<uintptr_t>(heap_->page_address(slab)) +
                         slab_page::colour(slab) + obj_offset_;
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  if (a < base) return false;
  const uint64_t off = a - base;
  if (off >= span_) return false;
  // Lemire's fastmod: off % size_ without a division (valid as off < 2^32: slabs are small).
  const uint64_t low = fastmod_m_ * off;
  return static_cast<uint64_t>((static_cast<__uint128_t>(low) * size_) >> 64) == 0;
}

inline bool SlabCache::is_object_start_in(const PageDesc* slab, const void* p) const {
  // p is inside the slab, so its offset in the slab is its address masked (no descriptor
  // arithmetic); an offset below the first object wraps around and fails the span check.
  const uint64_t off = (reinterpret_cast<uintptr_t>(p) & slab_mask_) - slab_page::colour(slab) -
                       obj_offset_;
  if (off >= span_) return false;
  const uint64_t low = fastmod_m_ * off;
  return static_cast<uint64_t>((static_cast<__uint128_t>(low) * size_) >> 64) == 0;
}

// ---- growing and reaping ----

bool SlabCache::grow_locked() {
  void* mem = heap_->alloc_pages(order_, 0);
  if (mem == nullptr) return false;
  char* base = static_cast<char*>(mem);
  PageDesc* head = heap_->page_desc(mem);
  const size_t pages = size_t{1} << order_;
  for (size_t i = 1; i < pages; ++i) {
    PageDesc* t = head + i;
    t->kind = PageKind::kSlabTail;
    t->order = static_cast<uint8_t>(order_);
  }
  const uint32_t colour = static_cast<uint32_t>(colour_next_ * align_);
  if (++colour_next_ >= colour_count_) colour_next_ = 0;

  // Build the free list in address order (the lowest object is handed out first) and prepare
  // every object: red zones inactive, poison, then the constructor.
  char* first = base + colour + obj_offset_;
  void* list = nullptr;
  for (size_t i = objects_; i-- > 0;) {
    char* obj = first + i * size_;
    if (flags_ & kSlabRedZone) {
      std::memset(obj - red_left_, kRedInactive, red_left_);
      std::memset(obj + object_size_, kRedInactive, red_right_);
    }
    if ((flags_ & kSlabPoison) && ctor_ == nullptr) {
      std::memset(obj, kPoisonFree, object_size_ - 1);
      obj[object_size_ - 1] = static_cast<char>(kPoisonEnd);
    }
    if (ctor_ != nullptr) ctor_(obj);
    *key_word(obj) = g_free_key;
    void** link = reinterpret_cast<void**>(obj - obj_offset_ + free_offset_);
    *link = encode(list, link);
    list = obj;
  }
  if (page_id_ != 0) {
    // Every page says which cache it belongs to and where the slab's objects lie (page_desc.h).
    for (size_t i = 0; i < pages; ++i) {
      head[i].slab_first = static_cast<uint32_t>(reinterpret_cast<uintptr_t>(first));
      head[i].slab_span = static_cast<uint32_t>(span_);
      head[i].slab_div = ~uint64_t{0} / size_ + 1;
      head[i].slab_id = page_id_;
    }
  }
  head->kind = PageKind::kSlab;
  head->order = static_cast<uint8_t>(order_);
  slab_page::set_cache(head, this);
  slab_page::set_freelist(head, list);
  slab_page::set_counts(head, 0, colour);
  list_add(&empty_, head);
  ++num_slabs_;
  ++grows_;
  return true;
}

void SlabCache::release_slab_locked(PageDesc* slab) {
  void* mem = heap_->page_address(slab);
  const size_t pages = size_t{1} << order_;
  for (size_t i = 0; i < pages; ++i) slab[i].slab_id = 0;
  for (size_t i = 1; i < pages; ++i) {
    slab[i].kind = PageKind::kNone;
    slab[i].order = 0;
  }
  slab->kind = PageKind::kAlloc;  // hand the block back as the page heap gave it
  slab->order = static_cast<uint8_t>(order_);
  slab->reserved = 0;             // the lane
  for (uintptr_t& w : slab->slab) w = 0;
  --num_slabs_;
  ++reaps_;
  const BuddyStatus st = heap_->free_pages(mem, order_);
  if (st != BuddyStatus::kOk) corruption("slab-corruption", "kmem_cache_reap", mem, to_string(st));
}

size_t SlabCache::reap_empty_locked(size_t keep) {
  size_t pages = 0;
  while (empty_.count > keep) {
    PageDesc* slab = empty_.head;
    list_del(&empty_, slab);
    release_slab_locked(slab);
    pages += size_t{1} << order_;
  }
  return pages;
}

// ---- objects in and out of slabs ----

void* SlabCache::take_object_locked(PageDesc* slab) {
  void* obj = slab_page::freelist(slab);
  // Both free words are checked before the link is followed: an overflow from the object in
  // front reaches the key first.
  if (*key_word(obj) != g_free_key)
    corruption("slab-corruption", "mk_cache_alloc", obj, "free object overwritten (its free key)");
  void** link = reinterpret_cast<void**>(static_cast<char*>(obj) - obj_offset_ + free_offset_);
  void* next = decode(*link, link);
  if (next != nullptr && !is_object_start(slab, next))
    corruption("slab-corruption", "mk_cache_alloc", obj, "free list pointer overwritten");
  slab_page::set_freelist(slab, next);
  const uint32_t inuse = slab_page::inuse(slab) + 1;
  slab_page::set_counts(slab, inuse, slab_page::colour(slab));
  if (inuse == 1) {
    // An empty slab joins the lane of the thread that starts it (alloc_batch_locked set it).
    list_del(&empty_, slab);
    list_add(inuse == objects_ ? &full_ : &partial_[slab->reserved], slab);
  } else if (inuse == objects_) {
    list_del(&partial_[slab->reserved], slab);
    list_add(&full_, slab);
  }
  ++active_objs_;
  ++allocs_;
  return obj;
}

void SlabCache::put_object_locked(void* obj) {
  PageDesc* slab = slab_of(heap_, obj);
  // Cheap checks that catch a double free once the object is back on its slab (SLUB's
  // "freelist head is the object" check; an unsigned underflow would wreck the slab lists).
  if (obj == slab_page::freelist(slab) || slab_page::inuse(slab) == 0)
    corruption("double-free", "mk_cache_free", obj, "the object is already free in its slab");
  void** link = reinterpret_cast<void**>(static_cast<char*>(obj) - obj_offset_ + free_offset_);
  *link = encode(slab_page::freelist(slab), link);
  slab_page::set_freelist(slab, obj);
  const uint32_t inuse = slab_page::inuse(slab) - 1;
  slab_page::set_counts(slab, inuse, slab_page::colour(slab));
  if (inuse + 1 == objects_) {
    list_del(&full_, slab);
    list_add(inuse == 0 ? &empty_ : &partial_[slab->reserved], slab);
  } else if (inuse == 0) {
    list_del(&partial_[slab->reserved], slab);
    list_add(&empty_, slab);
  }
  --active_objs_;
  ++frees_;
}

// The slab a refill takes objects from: a partial slab of the caller's lane, else an empty one
// (which joins the lane), else a new slab; only when no slab can be had, a partial slab of
// another lane (taking one before growing would put two threads' objects in one slab again).
PageDesc* SlabCache::refill_slab_locked(unsigned lane) {
  if (partial_[lane].head != nullptr) return partial_[lane].head;
  if (empty_.head == nullptr && !grow_locked()) {
    for (unsigned other = 1; other < kSlabLanes; ++other)
      if (PageDesc* slab = partial_[(lane + other) % kSlabLanes].head) return slab;
    return nullptr;
  }
  empty_.head->reserved = lane;
  return empty_.head;
}

size_t SlabCache::alloc_batch_locked(void** out, size_t n) {
  const unsigned lane = t_hot.cache->lane;
  size_t got = 0;
  while (got < n) {
    PageDesc* slab = refill_slab_locked(lane);
    if (slab == nullptr) break;
    while (got < n && slab_page::freelist(slab) != nullptr) out[got++] = take_object_locked(slab);
  }
  return got;
}

void SlabCache::free_batch_locked(void* const* objs, size_t n) {
  for (size_t i = 0; i < n; ++i) put_object_locked(objs[i]);
  reap_empty_locked(kKeepEmptySlabs);
}

bool SlabCache::on_free_list_locked(const PageDesc* slab, const void* p) const {
  if (slab->kind != PageKind::kSlab || slab_page::cache(slab) != this) return false;
  void* obj = slab_page::freelist(slab);
  for (unsigned n = 0; obj != nullptr && n < objects_; ++n) {
    if (obj == p) return true;
    void** link = reinterpret_cast<void**>(static_cast<char*>(obj) - obj_offset_ + free_offset_);
    obj = decode(*link, link);
    // A corrupted list ends the search; the allocation that reaches the link reports it.
    if (obj != nullptr && !is_object_start(slab, obj)) return false;
  }
  return false;
}

// ---- double frees: the slow confirmation of a key hit ----

const char* SlabCache::find_free(const PageDesc* slab, const void* p) {
  if (magazine_size_ != 0) return magazine_find_free(this, slab, p);
  LockGuard guard(&lock_);
  return on_free_list_locked(slab, p) ? "on its slab's free list" : nullptr;
}

__attribute__((noinline, cold)) void SlabCache::check_double_free(const PageDesc* slab,
                                                                  const void* p,
                                                                  const char* caller) {
  const char* where = find_free(slab, p);
  if (where == nullptr) return;  // in use: the program's own data held the key's value
  char what[96];
  std::snprintf(what, sizeof what, "the object is already free (%s)", where);
  corruption("double-free", caller, p, what);
}

// ---- debugging: poison and red zones ----

void SlabCache::corruption(const char* kind, const char* caller, const void* obj,
                           const char* what) const {
  char detail[256];
  std::snprintf(detail, sizeof detail, "cache %s (object size %zu): %s", name_, object_size_,
                what);
  report_fatal(kind, caller, obj, detail);
}

void SlabCache::debug_on_alloc(void* obj) {
  char* o = static_cast<char*>(obj);
  char what[96];
  if (flags_ & kSlabRedZone) {
    long at = find_mismatch(o - red_left_, red_left_, kRedInactive);
    if (at >= 0) {
      std::snprintf(what, sizeof what, "left red zone overwritten while free, at offset %ld",
                    at - static_cast<long>(red_left_));
      corruption("slab-redzone", "mk_cache_alloc", obj, what);
    }
    at = find_mismatch(o + object_size_, red_right_, kRedInactive);
    if (at >= 0) {
      std::snprintf(what, sizeof what, "right red zone overwritten while free, at offset %zu",
                    object_size_ + static_cast<size_t>(at));
      corruption("slab-redzone", "mk_cache_alloc", obj, what);
    }
    std::memset(o - red_left_, kRedActive, red_left_);
    std::memset(o + object_size_, kRedActive, red_right_);
  }
  if ((flags_ & kSlabPoison) && ctor_ == nullptr) {
    const long at = find_mismatch(o, object_size_ - 1, kPoisonFree);
    if (at >= 0 || static_cast<uint8_t>(o[object_size_ - 1]) != kPoisonEnd) {
      std::snprintf(what, sizeof what, "poison overwritten at offset %ld (use after free)",
                    at >= 0 ? at : static_cast<long>(object_size_ - 1));
      corruption("slab-use-after-free", "mk_cache_alloc", obj, what);
    }
    // Hand it out as the kernel's SLAB did (POISON_INUSE, Bonwick's 0xbaddcafe): reads of
    // uninitialised memory stand out, and an object freed unwritten is not taken for a
    // double free.
    std::memset(o, kPoisonInuse, object_size_);
  }
}

void SlabCache::debug_on_free(void* obj, const char* caller) {
  char* o = static_cast<char*>(obj);
  char what[96];
  if (flags_ & kSlabRedZone) {
    // Inactive red zones on both sides: the object is already free.
    if (find_mismatch(o - red_left_, red_left_, kRedInactive) < 0 &&
        find_mismatch(o + object_size_, red_right_, kRedInactive) < 0)
      corruption("double-free", caller, obj, "the object is already free");
    long at = find_mismatch(o - red_left_, red_left_, kRedActive);
    if (at >= 0) {
      std::snprintf(what, sizeof what, "left red zone overwritten at offset %ld (underflow)",
                    at - static_cast<long>(red_left_));
      corruption("slab-redzone", caller, obj, what);
    }
    at = find_mismatch(o + object_size_, red_right_, kRedActive);
    if (at >= 0) {
      std::snprintf(what, sizeof what, "right red zone overwritten at offset %zu (overflow)",
                    object_size_ + static_cast<size_t>(at));
      corruption("slab-redzone", caller, obj, what);
    }
    std::memset(o - red_left_, kRedInactive, red_left_);
    std::memset(o + object_size_, kRedInactive, red_right_);
  }
  if ((flags_ & kSlabPoison) && ctor_ == nullptr) {
    if (!(flags_ & kSlabRedZone) && find_mismatch(o, object_size_ - 1, kPoisonFree) < 0 &&
        static_cast<uint8_t>(o[object_size_ - 1]) == kPoisonEnd)
      corruption("double-free", caller, obj, "the object is already free (poisoned)");
    std::memset(o, kPoisonFree, object_size_ - 1);
    o[object_size_ - 1] = static_cast<char>(kPoisonEnd);
  }
}

// ---- the public operations ----

// The fast paths (one test for "nothing special", then a pop or a push on this thread's
// loaded magazine); everything else is in the noinline slow paths.

void* SlabCache::alloc(unsigned gfp) {
  if (MK_LIKELY(((gfp & MK_GFP_ZERO) | slow_flags_) == 0)) {
    CpuCache& cc = this_cpu_cache(index_);
    if (MK_LIKELY(cc.rounds != 0)) {
      ++cc.allocs;
      void* obj = cc.loaded->slots[--cc.rounds];
      *key_word(obj) = 0;  // in use: a free of it finds no key
      return obj;
    }
  }
  return alloc_slow(gfp);
}

__attribute__((noinline)) void* SlabCache::alloc_slow(unsigned gfp) {
  void* obj;
  if (magazine_size_ != 0) {
    obj = magazine_alloc(this);
  } else {
    LockGuard guard(&lock_);
    if (alloc_batch_locked(&obj, 1) == 0) obj = nullptr;
  }
  if (obj == nullptr) {
    errno = ENOMEM;
    return nullptr;
  }
  *key_word(obj) = 0;
  if (flags_ & (kSlabRedZone | kSlabPoison)) debug_on_alloc(obj);
  if (gfp & MK_GFP_ZERO) std::memset(obj, 0, object_size_);
  return obj;
}

void SlabCache::free(void* p, const char* caller) { free_in_slab(slab_of(heap_, p), p, caller); }

void SlabCache::free_in_slab(const PageDesc* slab, void* p, const char* caller) {
  if (MK_UNLIKELY(slab == nullptr || slab_page::cache(slab) != this ||
                  !is_object_start_in(slab, p)))
    invalid_free(slab, p, caller);
  // The debug checks first (their own double-free reports), then the key (slab_cache.h).
  if (MK_UNLIKELY(slow_flags_ & (kSlabRedZone | kSlabPoison))) debug_on_free(p, caller);
  uintptr_t* key = key_word(p);
  if (MK_UNLIKELY(*key == g_free_key)) check_double_free(slab, p, caller);
  *key = g_free_key;
  if (MK_LIKELY(slow_flags_ == 0)) {
    CpuCache& cc = this_cpu_cache(index_);
    if (MK_LIKELY(cc.rounds < cc.capacity)) {
      ++cc.frees;
      cc.loaded->slots[cc.rounds++] = p;
      return;
    }
  }
  free_slow(p);
}

__attribute__((noinline)) void SlabCache::free_slow(void* p) {
  if (magazine_size_ != 0 && magazine_free(this, p)) return;
  LockGuard guard(&lock_);
  free_batch_locked(&p, 1);
}

__attribute__((noinline, cold)) void SlabCache::invalid_free(const PageDesc* slab, const void* p,
                                                             const char* caller) const {
  const SlabCache* owner = slab != nullptr ? slab_page::cache(slab) : nullptr;
  char what[96];
  if (owner == nullptr)
    std::snprintf(what, sizeof what, "not an object of any cache");
  else if (owner != this)
    std::snprintf(what, sizeof what, "the object belongs to cache %s", owner->name_);
  else
    std::snprintf(what, sizeof what, "not the start of an object");
  corruption("invalid-free", caller, p, what);
}

size_t SlabCache::shrink() {
  // One lock hold, so that the slabs reaped on the way (a depot overflowing while this
  // thread's magazines go in, or the drain's own frees) count too, and only those.
  LockGuard guard(&lock_);
  const uint64_t reaped_before = reaps_;
  if (magazine_size_ != 0) {
    magazine_flush_this_thread_locked(this);
    magazine_drain_depot_locked(this);
  }
  reap_empty_locked(0);
  return static_cast<size_t>(reaps_ - reaped_before) << order_;
}

int SlabCache::destroy() {
  if (magazine_size_ != 0) magazine_flush_all_threads(this);
  {
    LockGuard guard(&lock_);
    if (magazine_size_ != 0) magazine_drain_depot_locked(this);
    if (active_objs_ != 0) {
      char line[160];
      std::snprintf(line, sizeof line, "%zu objects remaining in cache %s on mk_cache_destroy",
                    active_objs_, name_);
      report_warning(line);
      return EBUSY;
    }
    reap_empty_locked(0);
  }
  registry_remove(index_);
  pthread_mutex_destroy(&lock_);
  return 0;
}

// ---- statistics ----

void SlabCache::stats(SlabCacheStats* out) {
  LockGuard guard(&lock_);
  std::memset(out, 0, sizeof *out);
  std::memcpy(out->name, name_, kSlabNameLen);
  out->object_size = object_size_;
  out->size = size_;
  out->align = align_;
  out->order = order_;
  out->objects_per_slab = objects_;
  out->active_objs = active_objs_;
  out->num_objs = num_slabs_ * objects_;
  out->active_slabs = full_.count;
  for (const SlabList& lane : partial_) out->active_slabs += lane.count;
  out->num_slabs = num_slabs_;
  out->magazine_size = magazine_size_;
  out->batch = magazine_size_ / 2;
  for (Magazine* m = depot_full_; m != nullptr; m = m->next) out->depot_objects += m->rounds;
  out->colours = colour_count_;
  out->allocs = allocs_;
  out->frees = frees_;
  out->grows = grows_;
  out->reaps = reaps_;
}

int SlabCache::format_slabinfo(char* buf, size_t len) {
  SlabCacheStats s;
  stats(&s);
  return std::snprintf(buf, len,
                       "%-17s %6lu %6lu %6u %4u %4d : tunables %4u %4u %4u : slabdata %6lu %6lu %6lu\n",
                       s.name, static_cast<unsigned long>(s.active_objs),
                       static_cast<unsigned long>(s.num_objs), static_cast<unsigned>(s.size),
                       s.objects_per_slab, 1 << s.order, static_cast<unsigned>(s.magazine_size),
                       static_cast<unsigned>(s.batch), 0u,
                       static_cast<unsigned long>(s.active_slabs),
                       static_cast<unsigned long>(s.num_slabs),
                       static_cast<unsigned long>(s.depot_objects));
}

}  // namespace memkit
