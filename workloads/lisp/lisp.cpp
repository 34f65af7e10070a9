// memkit-lisp: a small Scheme-like interpreter, bundled with memkit as a "real small program".
//
// `memkit run` runs it on memkit's malloc (LD_PRELOAD) when given no program, and the benchmarks
// use it as a workload: it is allocation-heavy, deterministic and checks itself. With no FILE
// it runs the embedded demo (workloads/lisp/demo.lisp): n-queens, symbolic differentiation,
// sorting, a sieve, word counting in a hash table, tak and fib, binary search trees.
//
//   memkit-lisp [--threads N] [--repeat R] [--gc-stats] [--gc-every K] [FILE...]
//
// --threads N runs N independent interpreters on N std::threads, each running the whole
// program; only thread 0's output is printed, and any difference between the threads' (or the
// repeats') outputs is an error, so a broken allocator cannot pass. The last line of output is
// `checksum: <FNV-1a 64 of the program's output>`.
//
// How it allocates (the point of the exercise):
//   * every heap object (pair, string, closure, environment frame, builtin, table, vector) is
//     a cell of its own, made with `new` (40-80 bytes) and freed with `delete` by a
//     mark-and-sweep collector; symbols are interned for the life of the interpreter;
//   * strings own a std::string buffer, environment frames a std::vector of bindings, tables a
//     std::unordered_map<std::string, ...> (a node and a key string per entry, a bucket array),
//     vectors a std::vector buffer; the output is one growing std::string;
//   * a collection runs when the cells made since the last one exceed max(100000, 2 x live).
//
// GC safety: a collection can happen at any cell allocation, so everything in use is reachable
// from a root at every allocation: the symbol table (global values); the value stack (call
// arguments, let inits, the forms being read and run); the addresses of the locals of each
// eval frame (its expression, environment and running closure body), registered in roots_;
// and the values an allocation is given (the "pins", e.g. the car and cdr of a new pair).
// Builtins never call back into eval (apply is done by eval itself; map and for-each are Lisp,
// in the prelude), and the value stack never moves (it is reserved), so their argument
// pointers into it stay valid. `--gc-every 1` (collect at every allocation) tests all this.
//
// Proper tail calls: eval loops on tail positions instead of recursing. Non-tail recursion
// uses the C++ stack (64 MiB threads); eval measures it and fails with "recursion too deep"
// before it runs out. Every interpreter is an instance (no mutable globals).

#include <algorithm>
#include <charconv>
#include <cerrno>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <functional>
#include <initializer_list>
#include <new>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include <pthread.h>

#include "memkit_lisp_demo.h"  // kDemoProgram: demo.lisp, embedded at build time

namespace {

constexpr std::size_t kMinGcInterval = 100000;  // cells between collections, at least
constexpr std::size_t kStackValues = 1 << 20;   // value stack capacity (reserved, not touched)
constexpr std::size_t kThreadStack = 64 << 20;  // C++ stack of the interpreter threads

// ---------------------------------------------------------------------------------------------
// Values and cells
// ---------------------------------------------------------------------------------------------
// The tags from Sym on are cells (heap objects); an Env is never a value the program sees.
enum class Tag : std::uint8_t {
  Unspec, Nil, Bool, Int, Sym, Str, Pair, Closure, Builtin, Table, Vector, Env
};

struct Cell {
  explicit Cell(Tag t) : tag(t) {}
  Tag tag;
  bool marked = false;
  std::uint32_t line = 0;  // pairs made by the reader: the source line (0 = unknown)
};

struct Value {
  Tag t = Tag::Unspec;
  union {
    std::int64_t i = 0;  // Int, Bool
    Cell* c;             // the cell tags
  };
  static Value integer(std::int64_t v) { Value r; r.t = Tag::Int; r.i = v; return r; }
  static Value boolean(bool b) { Value r; r.t = Tag::Bool; r.i = b; return r; }
  static Value nil() { Value r; r.t = Tag::Nil; return r; }
  static Value of(Cell* cell) { Value r; r.t = cell->tag; r.c = cell; return r; }
  bool is_cell() const { return t >= Tag::Sym; }
  bool truthy() const { return !(t == Tag::Bool && i == 0); }
};

enum class Special : std::uint8_t {
  None, Quote, If, Define, Set, Lambda, Let, LetStar, Letrec, Begin, Cond, And, Or, When, Unless
};

class Interp;
using BuiltinFn = Value (*)(Interp&, Value*, int);

struct Symbol : Cell {  // owned by the symbol table, never collected
  explicit Symbol(std::string n) : Cell(Tag::Sym), name(std::move(n)) {}
  std::string name;
  Value global;  // the global binding lives in the symbol (a symbol table per interpreter)
  bool bound = false;
  Special special = Special::None;
};
struct String : Cell {
  explicit String(std::string v) : Cell(Tag::Str), s(std::move(v)) {}
  std::string s;
};
struct Pair : Cell {
  Pair(Value a, Value d) : Cell(Tag::Pair), car(a), cdr(d) {}
  Value car, cdr;
};
struct Env : Cell {  // a frame; the global frame keeps its bindings in the symbols
  explicit Env(Env* p) : Cell(Tag::Env), parent(p) {}
  std::vector<std::pair<Symbol*, Value>> vars;
  Env* parent;
};
struct Closure : Cell {
  Closure(Value p, Value b, Env* e, Symbol* n) : Cell(Tag::Closure), params(p), body(b), env(e), name(n) {}
  Value params, body;  // params: (a b), (a . rest) or rest
  Env* env;
  Symbol* name;
};
struct Builtin : Cell {
  Builtin(const char* n, BuiltinFn f, int lo, int hi)
      : Cell(Tag::Builtin), name(n), fn(f), min_args(lo), max_args(hi) {}
  const char* name;
  BuiltinFn fn;            // null: apply (eval spreads the arguments and loops: a tail call)
  int min_args, max_args;  // max -1: any number
};
struct Table : Cell {  // keyed by the written form of a string, symbol, number or boolean
  Table() : Cell(Tag::Table) {}
  std::unordered_map<std::string, std::pair<Value, Value>> map;  // -> (key, value)
};
struct Vector : Cell {
  Vector(std::size_t n, Value fill) : Cell(Tag::Vector), items(n, fill) {}
  std::vector<Value> items;
};

void destroy(Cell* c) {
  switch (c->tag) {
    case Tag::Sym: delete static_cast<Symbol*>(c); break;
    case Tag::Str: delete static_cast<String*>(c); break;
    case Tag::Pair: delete static_cast<Pair*>(c); break;
    case Tag::Env: delete static_cast<Env*>(c); break;
    case Tag::Closure: delete static_cast<Closure*>(c); break;
    case Tag::Builtin: delete static_cast<Builtin*>(c); break;
    case Tag::Table: delete static_cast<Table*>(c); break;
    case Tag::Vector: delete static_cast<Vector*>(c); break;
    default: break;
  }
}

Pair* pair(Value v) { return static_cast<Pair*>(v.c); }
Symbol* sym(Value v) { return static_cast<Symbol*>(v.c); }
Env* env_of(Value v) { return static_cast<Env*>(v.c); }
Value car(Value v) { return pair(v)->car; }
Value cdr(Value v) { return pair(v)->cdr; }

long list_length(Value v) {  // -1 if v is not a proper list
  long n = 0;
  for (; v.t == Tag::Pair; v = cdr(v)) ++n;
  return v.t == Tag::Nil ? n : -1;
}

struct LispError {
  std::string text;  // "FILE:LINE: error: MESSAGE"
};

struct GcStats {
  std::uint64_t cells = 0, collections = 0, freed = 0, peak_cells = 0;
};

// Lisp definitions every program starts with (their errors report the caller's line).
constexpr const char* kPrelude = R"LISP(
(define (map f l . more)
  (if (null? more)
      (let loop ((l l) (acc '()))
        (if (pair? l) (loop (cdr l) (cons (f (car l)) acc)) (reverse acc)))
      (let loop ((l l) (m (car more)) (acc '()))
        (if (and (pair? l) (pair? m))
            (loop (cdr l) (cdr m) (cons (f (car l) (car m)) acc))
            (reverse acc)))))
(define (for-each f l) (let loop ((l l)) (when (pair? l) (f (car l)) (loop (cdr l)))))
(define (filter keep? l)
  (let loop ((l l) (acc '()))
    (cond ((null? l) (reverse acc))
          ((keep? (car l)) (loop (cdr l) (cons (car l) acc)))
          (else (loop (cdr l) acc)))))
(define (fold-left f acc l) (if (null? l) acc (fold-left f (f acc (car l)) (cdr l))))
(define (assoc key al)
  (cond ((null? al) #f) ((equal? key (car (car al))) (car al)) (else (assoc key (cdr al)))))
(define (member x l) (cond ((null? l) #f) ((equal? x (car l)) l) (else (member x (cdr l)))))
(define (even? x) (= (remainder x 2) 0))
(define (odd? x) (not (even? x)))
(define (abs x) (if (< x 0) (- x) x))
(define (min a b) (if (< b a) b a))
(define (max a b) (if (> b a) b a))
)LISP";

// ---------------------------------------------------------------------------------------------
// The interpreter
// ---------------------------------------------------------------------------------------------
class Interp {
 public:
  // Output goes to `out`, and with `echo` also there after each top-level form.
  // gc_every > 0: collect every gc_every cells, however few are live (to test the GC).
  Interp(std::string& out, std::FILE* echo, std::size_t gc_every);
  ~Interp();
  Interp(const Interp&) = delete;
  Interp& operator=(const Interp&) = delete;

  // Reads and runs the forms of text; throws LispError. The prelude records no lines.
  void load(const std::string& file, std::string_view text, bool record_lines);
  const GcStats& stats() const { return stats_; }

  // --- for the reader and the builtins ---
  // The error paths are out of line, so that their strings do not grow eval's stack frame.
  [[noreturn, gnu::noinline, gnu::cold]] void fail_at(int line, const std::string& msg);
  [[noreturn, gnu::noinline, gnu::cold]] void fail(const std::string& msg) { fail_at(cur_line_, msg); }
  [[noreturn, gnu::noinline, gnu::cold]] void type_error(const char* who, const char* want, Value got) {
    fail(std::string(who) + ": wrong type: expected " + want + ", got " + repr(got));
  }
  std::int64_t int_arg(const char* who, Value v) {
    if (v.t != Tag::Int) type_error(who, "an integer", v);
    return v.i;
  }
  template <class C>
  C* cell_arg(const char* who, Value v, Tag tag, const char* want) {
    if (v.t != tag) type_error(who, want, v);
    return static_cast<C*>(v.c);
  }
  void check_stack(int line) {
    auto here = reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0));
    if (stack_top_ - here > stack_budget_) too_deep(line, "");
  }
  [[gnu::always_inline]] void push(Value v) {
    if (stack_.size() == stack_.capacity()) too_deep(cur_line_, " (value stack full)");
    stack_.push_back(v);
  }
  [[noreturn, gnu::noinline, gnu::cold]] void too_deep(int line, const char* why) {
    fail_at(line, std::string("recursion too deep") + why);
  }
  void pop_to(std::size_t base) { stack_.resize(base); }

  Value cons(Value a, Value d) { return Value::of(alloc<Pair>({a, d}, a, d)); }
  Value make_string(std::string s) { return Value::of(alloc<String>({}, std::move(s))); }
  Value make_vector(std::size_t n, Value fill) { return Value::of(alloc<Vector>({fill}, n, fill)); }
  Value make_table() { return Value::of(alloc<Table>({})); }
  Symbol* intern(std::string_view name);
  bool equal(Value a, Value b);
  static bool eqv(Value a, Value b);
  // Appends the display (or write) form of v to o, stopping once o is longer than limit.
  void print(std::string& o, Value v, bool write, std::size_t limit = SIZE_MAX);
  std::string repr(Value v) {
    std::string o;
    print(o, v, true, 60);
    if (o.size() > 60) o.replace(57, std::string::npos, "...");
    return o;
  }

  std::string& out_;
  std::vector<Value> stack_;  // a GC root; reserved, never reallocated: pointers into it stay valid
  Symbol* s_quote_ = nullptr;

 private:
  friend struct FrameRoots;

  template <class C, class... A>
  C* alloc(std::initializer_list<Value> pins, A&&... args) {
    if (since_gc_ >= threshold_) [[unlikely]] {
      pins_ = pins.begin();
      npins_ = pins.size();
      collect();
      npins_ = 0;
    }
    C* c = new C(std::forward<A>(args)...);
    heap_.push_back(c);
    ++since_gc_;
    ++stats_.cells;
    stats_.peak_cells = std::max<std::uint64_t>(stats_.peak_cells, heap_.size());
    return c;
  }
  Env* make_env(Env* parent, std::size_t n) {
    Env* e = alloc<Env>({parent ? Value::of(parent) : Value()}, parent);
    e->vars.reserve(n);
    return e;
  }
  void collect();
  void mark(Value v) {
    if (v.is_cell() && v.t != Tag::Sym && !v.c->marked) {
      v.c->marked = true;
      gray_.push_back(v.c);
    }
  }

  Value eval(Value x, Env* env);
  [[gnu::noinline]] bool special(Symbol* form, Value& x, Value& env, int line, Value& result);
  [[gnu::noinline]] void spread_apply(std::size_t base);
  [[gnu::noinline]] Env* bind(Closure* f, std::size_t args, int n, int line);
  Value eval_arg(Value v, Env* env, int line) {  // eval, without a frame for the trivial cases
    if (v.t == Tag::Sym) return lookup(sym(v), env, line);
    if (v.t != Tag::Pair) return v;
    cur_line_ = line;
    return eval(v, env);
  }
  Value eval_body(Value body, Env* env, int line) {  // all but the last; returns the last
    for (; cdr(body).t == Tag::Pair; body = cdr(body)) eval_arg(car(body), env, line);
    return car(body);
  }
  Value lookup(Symbol* s, Env* env, int line);
  void define(Env* env, Symbol* s, Value v);
  void assign(Env* env, Symbol* s, Value v, int line);
  void check_params(Value params, int line);
  [[noreturn, gnu::noinline, gnu::cold]] void bad_syntax(int line, const char* form, Value x) {
    fail_at(line, std::string(form) + ": bad syntax: " + repr(x));
  }
  [[noreturn, gnu::noinline, gnu::cold]] void fail_with(int line, const char* msg, const std::string& what) {
    fail_at(line, msg + what);
  }
  [[noreturn, gnu::noinline, gnu::cold]] void arity_error(int line, const std::string& who, const char* how,
                                                          long want, long got) {
    fail_at(line, who + ": wrong number of arguments: expected " + how + std::to_string(want) + ", got " +
                      std::to_string(got));
  }
  void flush() {
    if (echo_ && flushed_ < out_.size())
      std::fwrite(out_.data() + flushed_, 1, out_.size() - flushed_, echo_);
    flushed_ = out_.size();
  }

  std::FILE* echo_;
  std::size_t flushed_ = 0;
  std::string file_;
  int cur_line_ = 0;
  std::unordered_map<std::string, Symbol*> symtab_;
  Symbol* s_else_ = nullptr;
  Env* global_ = nullptr;
  std::vector<Cell*> heap_;    // every cell, for the sweep
  std::vector<Value*> roots_;  // locals of the active eval frames
  std::vector<Cell*> gray_;    // the mark stack
  const Value* pins_ = nullptr;
  std::size_t npins_ = 0;
  std::size_t since_gc_ = 0, threshold_, gc_every_;
  GcStats stats_;
  std::uintptr_t stack_top_ = 0, stack_budget_ = 0;
};

// Registers the locals of an eval frame as roots for the frame's lifetime.
struct FrameRoots {
  FrameRoots(Interp& in, Value* a, Value* b, Value* c) : I(in) {
    I.roots_.push_back(a);
    I.roots_.push_back(b);
    I.roots_.push_back(c);
  }
  ~FrameRoots() { I.roots_.erase(I.roots_.end() - 3, I.roots_.end()); }
  FrameRoots(const FrameRoots&) = delete;
  FrameRoots& operator=(const FrameRoots&) = delete;
  Interp& I;
};

void Interp::fail_at(int line, const std::string& msg) {
  std::string where = file_;
  if (line > 0) where += ":" + std::to_string(line);
  throw LispError{where + ": error: " + msg};
}

Symbol* Interp::intern(std::string_view name) {
  auto it = symtab_.find(std::string(name));
  if (it != symtab_.end()) return it->second;
  auto* s = new Symbol(std::string(name));
  symtab_.emplace(s->name, s);
  return s;
}

void Interp::collect() {
  ++stats_.collections;
  for (auto& entry : symtab_)
    if (entry.second->bound) mark(entry.second->global);
  for (Value* r : roots_) mark(*r);
  for (const Value& v : stack_) mark(v);
  for (std::size_t k = 0; k < npins_; ++k) mark(pins_[k]);
  if (global_) mark(Value::of(global_));
  while (!gray_.empty()) {
    Cell* c = gray_.back();
    gray_.pop_back();
    switch (c->tag) {
      case Tag::Pair:
        mark(static_cast<Pair*>(c)->car);
        mark(static_cast<Pair*>(c)->cdr);
        break;
      case Tag::Closure:
        mark(static_cast<Closure*>(c)->params);
        mark(static_cast<Closure*>(c)->body);
        mark(Value::of(static_cast<Closure*>(c)->env));
        break;
      case Tag::Env:
        for (auto& b : static_cast<Env*>(c)->vars) mark(b.second);
        if (Env* parent = static_cast<Env*>(c)->parent) mark(Value::of(parent));
        break;
      case Tag::Table:
        for (auto& entry : static_cast<Table*>(c)->map) {
          mark(entry.second.first);
          mark(entry.second.second);
        }
        break;
      case Tag::Vector:
        for (const Value& v : static_cast<Vector*>(c)->items) mark(v);
        break;
      default: break;
    }
  }
  // Sweep. An array, not a list, of cells: the loads of the cells are independent.
  std::size_t live = 0, count = heap_.size();
  for (std::size_t k = 0; k < count; ++k) {
    if (k + 16 < count) __builtin_prefetch(heap_[k + 16]);
    Cell* c = heap_[k];
    if (c->marked) {
      c->marked = false;
      heap_[live++] = c;
    } else {
      destroy(c);
    }
  }
  stats_.freed += count - live;
  heap_.resize(live);
  since_gc_ = 0;
  threshold_ = gc_every_ ? gc_every_ : std::max(kMinGcInterval, 2 * live);
}

Value Interp::lookup(Symbol* s, Env* env, int line) {
  for (Env* e = env; e != global_; e = e->parent)
    for (auto it = e->vars.rbegin(); it != e->vars.rend(); ++it)  // the latest let* binding first
      if (it->first == s) return it->second;
  if (!s->bound) fail_with(line, "unbound variable: ", s->name);
  return s->global;
}

void Interp::define(Env* env, Symbol* s, Value v) {
  if (env == global_) {
    s->global = v;
    s->bound = true;
    return;
  }
  for (auto& b : env->vars)
    if (b.first == s) {
      b.second = v;
      return;
    }
  env->vars.emplace_back(s, v);
}

void Interp::assign(Env* env, Symbol* s, Value v, int line) {
  for (Env* e = env; e != global_; e = e->parent)
    for (auto it = e->vars.rbegin(); it != e->vars.rend(); ++it)
      if (it->first == s) {
        it->second = v;
        return;
      }
  if (!s->bound) fail_with(line, "set!: unbound variable: ", s->name);
  s->global = v;
}

void Interp::check_params(Value params, int line) {
  Value p = params;
  for (; p.t == Tag::Pair; p = cdr(p))
    if (car(p).t != Tag::Sym) fail_with(line, "lambda: parameter is not a symbol: ", repr(car(p)));
  if (p.t != Tag::Nil && p.t != Tag::Sym) fail_with(line, "lambda: bad parameter list: ", repr(params));
}

// A frame for a call of f (kept on the stack) with the n arguments at stack_[args...].
Env* Interp::bind(Closure* f, std::size_t args, int n, int line) {
  int fixed = 0;
  Value p = f->params;
  for (; p.t == Tag::Pair; p = cdr(p)) ++fixed;
  bool rest = p.t == Tag::Sym;
  if (n < fixed || (!rest && n > fixed))
    arity_error(line, f->name ? f->name->name : "#<procedure>", rest ? "at least " : "", fixed, n);
  if (rest) {  // the rest list first, kept on the stack: the frame is never left unrooted
    Value list = Value::nil();
    for (int k = n - 1; k >= fixed; --k) list = cons(stack_[args + k], list);
    push(list);
  }
  Env* e = make_env(f->env, fixed + (rest ? 1 : 0));
  int k = 0;
  for (p = f->params; p.t == Tag::Pair; p = cdr(p), ++k) e->vars.emplace_back(sym(car(p)), stack_[args + k]);
  if (rest) e->vars.emplace_back(sym(p), stack_.back());
  return e;
}

// The special forms but quote, if and begin (eval keeps those and calls, so that its frame,
// which is what non-tail recursion costs, stays small). Returns true when x and env hold the
// tail expression to go on with, false when result is the value of the form.
bool Interp::special(Symbol* form, Value& x, Value& env, int line, Value& result) {
  Env* e = env_of(env);
  Value rest = cdr(x);
  long n = list_length(rest);
  const char* name = form->name.c_str();
  result = Value();
  switch (form->special) {
    case Special::Define: {
      Value target = n >= 1 ? car(rest) : Value();
      if (target.t == Tag::Pair) {  // (define (name . params) body...)
        if (car(target).t != Tag::Sym || n < 2) bad_syntax(line, name, x);
        check_params(cdr(target), line);
        Closure* f = alloc<Closure>({env}, cdr(target), cdr(rest), e, sym(car(target)));
        define(e, sym(car(target)), Value::of(f));
      } else {
        if (target.t != Tag::Sym || n != 2) bad_syntax(line, name, x);
        Value v = eval_arg(car(cdr(rest)), e, line);
        if (v.t == Tag::Closure && !static_cast<Closure*>(v.c)->name)
          static_cast<Closure*>(v.c)->name = sym(target);
        define(e, sym(target), v);
      }
      return false;
    }
    case Special::Set:
      if (n != 2 || car(rest).t != Tag::Sym) bad_syntax(line, name, x);
      assign(e, sym(car(rest)), eval_arg(car(cdr(rest)), e, line), line);
      return false;
    case Special::Lambda:
      if (n < 2) bad_syntax(line, name, x);
      check_params(car(rest), line);
      result = Value::of(alloc<Closure>({env}, car(rest), cdr(rest), e, nullptr));
      return false;
    case Special::Let: {
      if (n < 2) bad_syntax(line, name, x);
      Symbol* loop_name = nullptr;  // named let: (let name ((var init)...) body...)
      if (car(rest).t == Tag::Sym) {
        if (n < 3) bad_syntax(line, name, x);
        loop_name = sym(car(rest));
        rest = cdr(rest);
      }
      std::size_t base = stack_.size();
      long count = 0;
      for (Value b = car(rest); b.t != Tag::Nil; b = cdr(b), ++count) {
        if (b.t != Tag::Pair || list_length(car(b)) != 2 || car(car(b)).t != Tag::Sym)
          bad_syntax(line, name, x);
        push(eval_arg(car(cdr(car(b))), e, line));
      }
      Env* parent = e;
      if (loop_name) {  // a frame for the loop procedure, whose parameters are the variables
        std::vector<Value> vars;
        for (Value b = car(rest); b.t == Tag::Pair; b = cdr(b)) vars.push_back(car(car(b)));  // symbols
        Value params = Value::nil();
        for (auto it = vars.rbegin(); it != vars.rend(); ++it) params = cons(*it, params);
        push(params);
        parent = make_env(e, 1);
        push(Value::of(parent));
        Closure* loop = alloc<Closure>({}, params, cdr(rest), parent, loop_name);
        parent->vars.emplace_back(loop_name, Value::of(loop));
      }
      Env* frame = make_env(parent, static_cast<std::size_t>(count));
      std::size_t k = base;
      for (Value b = car(rest); b.t == Tag::Pair; b = cdr(b))
        frame->vars.emplace_back(sym(car(car(b))), stack_[k++]);
      pop_to(base);
      env = Value::of(frame);
      x = eval_body(cdr(rest), frame, line);
      return true;
    }
    case Special::LetStar:
    case Special::Letrec: {
      if (n < 2 || list_length(car(rest)) < 0) bad_syntax(line, name, x);
      Env* frame = make_env(e, static_cast<std::size_t>(list_length(car(rest))));
      env = Value::of(frame);  // roots the frame; e stays reachable as its parent
      bool rec = form->special == Special::Letrec;
      for (Value b = car(rest); b.t == Tag::Pair; b = cdr(b)) {
        if (list_length(car(b)) != 2 || car(car(b)).t != Tag::Sym) bad_syntax(line, name, x);
        if (rec) frame->vars.emplace_back(sym(car(car(b))), Value());
      }
      std::size_t k = 0;
      for (Value b = car(rest); b.t == Tag::Pair; b = cdr(b), ++k) {
        Value v = eval_arg(car(cdr(car(b))), frame, line);
        if (rec)
          frame->vars[k].second = v;
        else
          frame->vars.emplace_back(sym(car(car(b))), v);
      }
      x = eval_body(cdr(rest), frame, line);
      return true;
    }
    case Special::Cond:
      if (n < 0) bad_syntax(line, name, x);
      for (Value c = rest; c.t == Tag::Pair; c = cdr(c)) {
        Value clause = car(c);
        if (list_length(clause) < 1) bad_syntax(line, name, x);
        Value test = car(clause);
        Value v = test.t == Tag::Sym && sym(test) == s_else_ ? Value::boolean(true) : eval_arg(test, e, line);
        if (!v.truthy()) continue;
        if (cdr(clause).t == Tag::Nil) {
          result = v;
          return false;
        }
        x = eval_body(cdr(clause), e, line);
        return true;
      }
      return false;
    case Special::And:
    case Special::Or: {
      if (n < 0) bad_syntax(line, name, x);
      bool is_and = form->special == Special::And;
      result = Value::boolean(is_and);
      if (n == 0) return false;
      for (; cdr(rest).t == Tag::Pair; rest = cdr(rest)) {
        result = eval_arg(car(rest), e, line);
        if (result.truthy() != is_and) return false;
      }
      x = car(rest);
      return true;
    }
    case Special::When:
    case Special::Unless:
      if (n < 2) bad_syntax(line, name, x);
      if (eval_arg(car(rest), e, line).truthy() != (form->special == Special::When)) return false;
      x = eval_body(cdr(rest), e, line);
      return true;
    default:
      return false;
  }
}

Value Interp::eval(Value x, Env* env_in) {
  Value env = Value::of(env_in);
  Value hold;  // the body of the closure being run: x walks through it
  FrameRoots roots(*this, &x, &env, &hold);
  int line = cur_line_;
  check_stack(line);
  for (;;) {
    if (x.t == Tag::Sym) return lookup(sym(x), env_of(env), line);
    if (x.t != Tag::Pair) return x;
    Env* e = env_of(env);
    if (pair(x)->line != 0) line = static_cast<int>(pair(x)->line);
    cur_line_ = line;
    Value head = car(x), rest = cdr(x);
    Special sf = head.t == Tag::Sym ? sym(head)->special : Special::None;
    if (sf == Special::If) {
      long n = list_length(rest);
      if (n != 2 && n != 3) bad_syntax(line, "if", x);
      if (eval_arg(car(rest), e, line).truthy()) {
        x = car(cdr(rest));
      } else {
        if (n == 2) return Value();
        x = car(cdr(cdr(rest)));
      }
      continue;
    }
    if (sf == Special::Quote) {
      if (list_length(rest) != 1) bad_syntax(line, "quote", x);
      return car(rest);
    }
    if (sf == Special::Begin) {
      long n = list_length(rest);
      if (n < 0) bad_syntax(line, "begin", x);
      if (n == 0) return Value();
      x = eval_body(rest, e, line);
      continue;
    }
    if (sf != Special::None) {
      Value result;
      if (special(sym(head), x, env, line, result)) continue;
      return result;
    }

    // A call: the procedure and the arguments go on the value stack.
    std::size_t base = stack_.size();
    push(eval_arg(head, e, line));
    for (; rest.t == Tag::Pair; rest = cdr(rest)) push(eval_arg(car(rest), e, line));
    if (rest.t != Tag::Nil) bad_syntax(line, "call", x);
    for (;;) {
      Value f = stack_[base];
      int argc = static_cast<int>(stack_.size() - base - 1);
      if (f.t == Tag::Builtin) {
        auto* b = static_cast<Builtin*>(f.c);
        cur_line_ = line;
        if (argc < b->min_args || (b->max_args >= 0 && argc > b->max_args)) {
          const char* how = b->min_args == b->max_args ? "" : argc < b->min_args ? "at least " : "at most ";
          arity_error(line, b->name, how, argc < b->min_args ? b->min_args : b->max_args, argc);
        }
        if (!b->fn) {  // apply: call the procedure with the spread arguments, as a tail call
          spread_apply(base);
          continue;
        }
        Value r = b->fn(*this, stack_.data() + base + 1, argc);
        pop_to(base);
        return r;
      }
      if (f.t != Tag::Closure) fail_with(line, "not a procedure: ", repr(f));
      auto* clo = static_cast<Closure*>(f.c);
      Env* frame = bind(clo, base + 1, argc, line);
      hold = clo->body;
      env = Value::of(frame);
      pop_to(base);
      x = eval_body(hold, frame, line);
      break;
    }
  }
}

// (apply f a b ... list) at stack_[base...] becomes (f a b ... list elements...).
void Interp::spread_apply(std::size_t base) {
  Value list = stack_.back();
  if (list_length(list) < 0) type_error("apply", "a proper list", list);
  stack_.pop_back();
  stack_.erase(stack_.begin() + static_cast<std::ptrdiff_t>(base));
  for (; list.t == Tag::Pair; list = cdr(list)) push(car(list));
}

bool Interp::eqv(Value a, Value b) {
  if (a.t != b.t) return false;
  if (a.is_cell()) return a.c == b.c;
  return a.t != Tag::Int && a.t != Tag::Bool ? true : a.i == b.i;
}

bool Interp::equal(Value a, Value b) {
  check_stack(cur_line_);
  for (;;) {
    if (a.t != b.t) return false;
    if (a.t == Tag::Str) return static_cast<String*>(a.c)->s == static_cast<String*>(b.c)->s;
    if (a.t == Tag::Vector) {
      auto& x = static_cast<Vector*>(a.c)->items;
      auto& y = static_cast<Vector*>(b.c)->items;
      if (x.size() != y.size()) return false;
      for (std::size_t k = 0; k < x.size(); ++k)
        if (!equal(x[k], y[k])) return false;
      return true;
    }
    if (a.t != Tag::Pair) return eqv(a, b);
    if (!equal(car(a), car(b))) return false;
    a = cdr(a);
    b = cdr(b);
  }
}

void Interp::print(std::string& o, Value v, bool write, std::size_t limit) {
  check_stack(cur_line_);
  switch (v.t) {
    case Tag::Unspec: o += "#<unspecified>"; break;
    case Tag::Nil: o += "()"; break;
    case Tag::Bool: o += v.i ? "#t" : "#f"; break;
    case Tag::Int: o += std::to_string(v.i); break;
    case Tag::Sym: o += sym(v)->name; break;
    case Tag::Str:
      if (!write) {
        o += static_cast<String*>(v.c)->s;
        break;
      }
      o += '"';
      for (char ch : static_cast<String*>(v.c)->s) {
        if (ch == '\n') {
          o += "\\n";
        } else if (ch == '\t') {
          o += "\\t";
        } else {
          if (ch == '"' || ch == '\\') o += '\\';
          o += ch;
        }
      }
      o += '"';
      break;
    case Tag::Pair:
      o += '(';
      for (;;) {
        print(o, car(v), write, limit);
        v = cdr(v);
        if (o.size() > limit) return;
        if (v.t != Tag::Pair) break;
        o += ' ';
      }
      if (v.t != Tag::Nil) {
        o += " . ";
        print(o, v, write, limit);
      }
      o += ')';
      break;
    case Tag::Vector:
      o += "#(";
      for (const Value& item : static_cast<Vector*>(v.c)->items) {
        if (o.size() > limit) return;
        if (o.back() != '(') o += ' ';
        print(o, item, write, limit);
      }
      o += ')';
      break;
    case Tag::Closure:
      o += "#<procedure";
      if (Symbol* name = static_cast<Closure*>(v.c)->name) o += " " + name->name;
      o += ">";
      break;
    case Tag::Builtin: o += std::string("#<builtin ") + static_cast<Builtin*>(v.c)->name + ">"; break;
    case Tag::Table: o += "#<table " + std::to_string(static_cast<Table*>(v.c)->map.size()) + ">"; break;
    case Tag::Env: o += "#<environment>"; break;
  }
}

// ---------------------------------------------------------------------------------------------
// The reader: each datum read is left on the value stack (a GC root while it is built)
// ---------------------------------------------------------------------------------------------
class Reader {
 public:
  Reader(Interp& in, std::string_view src, bool record_lines) : I(in), src_(src), lines_(record_lines) {}

  bool read() {  // pushes the next datum; false at the end of the text
    skip_space();
    if (pos_ >= src_.size()) return false;
    datum();
    return true;
  }

 private:
  static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'; }
  static bool is_delimiter(char c) { return is_space(c) || std::strchr("()\";'", c); }
  [[noreturn]] void syntax_error(int line, const std::string& msg) {
    I.fail_at(line, "syntax error: " + msg);
  }

  void skip_space() {
    for (; pos_ < src_.size(); ++pos_) {
      if (src_[pos_] == ';')
        while (pos_ + 1 < src_.size() && src_[pos_ + 1] != '\n') ++pos_;
      else if (src_[pos_] == '\n')
        ++line_;
      else if (!is_space(src_[pos_]))
        break;
    }
  }

  void datum() {
    I.check_stack(line_);
    skip_space();
    if (pos_ >= src_.size()) syntax_error(line_, "unexpected end of file");
    int start = line_;
    switch (src_[pos_]) {
      case '(': ++pos_; return list(start);
      case ')': syntax_error(line_, "unexpected ')'");
      case '"': return string_literal(start);
      case '\'':  // 'x -> (quote x)
        ++pos_;
        datum();
        I.stack_.back() = I.cons(I.stack_.back(), Value::nil());
        I.stack_.back() = I.cons(Value::of(I.s_quote_), I.stack_.back());
        if (lines_) I.stack_.back().c->line = static_cast<std::uint32_t>(start);
        return;
      default: return atom();
    }
  }

  void list(int open_line) {
    std::size_t start = I.stack_.size();
    bool dotted = false;
    for (;;) {
      skip_space();
      if (pos_ >= src_.size()) syntax_error(open_line, "unterminated list");
      if (src_[pos_] == ')') break;
      if (src_[pos_] == '.' && (pos_ + 1 >= src_.size() || is_delimiter(src_[pos_ + 1]))) {
        if (I.stack_.size() == start) syntax_error(line_, "unexpected '.'");
        ++pos_;
        datum();
        dotted = true;
        skip_space();
        if (pos_ >= src_.size() || src_[pos_] != ')') syntax_error(line_, "expected ')' after a dotted tail");
        break;
      }
      datum();
    }
    ++pos_;  // the ')'
    std::size_t end = I.stack_.size();
    Value tail = dotted ? I.stack_[--end] : Value::nil();
    for (std::size_t k = end; k > start; --k) tail = I.cons(I.stack_[k - 1], tail);
    if (lines_ && tail.t == Tag::Pair) tail.c->line = static_cast<std::uint32_t>(open_line);
    I.pop_to(start);
    I.push(tail);
  }

  void string_literal(int start) {
    std::string s;
    for (++pos_;; ++pos_) {
      if (pos_ >= src_.size()) syntax_error(start, "unterminated string");
      char c = src_[pos_];
      if (c == '"') break;
      if (c == '\n') ++line_;
      if (c == '\\') {
        if (++pos_ >= src_.size()) syntax_error(start, "unterminated string");
        c = src_[pos_];
        if (c == 'n') c = '\n';
        else if (c == 't') c = '\t';
        else if (c != '\\' && c != '"') syntax_error(line_, std::string("unknown escape \\") + c);
      }
      s += c;
    }
    ++pos_;
    I.push(I.make_string(std::move(s)));
  }

  void atom() {
    std::size_t begin = pos_;
    while (pos_ < src_.size() && !is_delimiter(src_[pos_])) ++pos_;
    std::string_view tok = src_.substr(begin, pos_ - begin);
    if (tok == "#t" || tok == "#true" || tok == "#f" || tok == "#false")
      return I.push(Value::boolean(tok[1] == 't'));
    if (tok[0] == '#') syntax_error(line_, "unknown syntax " + std::string(tok));
    std::string_view digits = tok[0] == '+' || tok[0] == '-' ? tok.substr(1) : tok;
    if (!digits.empty() && digits.find_first_not_of("0123456789") == std::string_view::npos) {
      std::int64_t v = 0;
      auto r = std::from_chars(tok.data() + (tok[0] == '+'), tok.data() + tok.size(), v);
      if (r.ec != std::errc()) syntax_error(line_, "integer out of range: " + std::string(tok));
      return I.push(Value::integer(v));
    }
    I.push(Value::of(I.intern(tok)));
  }

  Interp& I;
  std::string_view src_;
  bool lines_;
  std::size_t pos_ = 0;
  int line_ = 1;
};

void Interp::load(const std::string& file, std::string_view text, bool record_lines) {
  file_ = file;
  cur_line_ = 0;
  Reader reader(*this, text, record_lines);
  std::size_t base = stack_.size();
  while (reader.read()) {  // the form stays on the stack while it runs
    eval(stack_.back(), global_);
    pop_to(base);
    flush();
  }
}

// ---------------------------------------------------------------------------------------------
// Builtins: the arguments are a[0..n), on the value stack; builtins never call eval
// ---------------------------------------------------------------------------------------------
#define BUILTIN []([[maybe_unused]] Interp & I, [[maybe_unused]] Value * a, [[maybe_unused]] int n) -> Value

template <class Op>  // + - *: checked for overflow
Value arith(Interp& I, const char* who, Value* a, int n, std::int64_t acc, Op op) {
  for (int k = 0; k < n; ++k)
    if (op(acc, I.int_arg(who, a[k]), &acc)) I.fail(std::string(who) + ": integer overflow");
  return Value::integer(acc);
}
using I64 = std::int64_t;
constexpr auto kAdd = [](I64 x, I64 y, I64* r) { return __builtin_add_overflow(x, y, r); };
constexpr auto kSub = [](I64 x, I64 y, I64* r) { return __builtin_sub_overflow(x, y, r); };
constexpr auto kMul = [](I64 x, I64 y, I64* r) { return __builtin_mul_overflow(x, y, r); };

// quotient, remainder, modulo: the checked arguments; INT64_MIN / -1 is their business.
std::pair<std::int64_t, std::int64_t> division(Interp& I, const char* who, Value* a) {
  std::int64_t x = I.int_arg(who, a[0]), y = I.int_arg(who, a[1]);
  if (y == 0) I.fail(std::string(who) + ": division by zero");
  return {x, y};
}

const std::string& string_arg(Interp& I, const char* who, Value v) {
  return I.cell_arg<String>(who, v, Tag::Str, "a string")->s;
}

template <class Cmp>  // < > = <= >= string=? string<?: every argument is checked
Value compare(Interp& I, const char* who, Value* a, int n, Cmp cmp) {
  bool ok = true;
  for (int k = 0; k < n; ++k) {
    if constexpr (std::is_invocable_v<Cmp, I64, I64>) {
      I64 x = I.int_arg(who, a[k]);
      ok = ok && (k == 0 || cmp(a[k - 1].i, x));
    } else {
      const std::string& x = string_arg(I, who, a[k]);
      ok = ok && (k == 0 || cmp(static_cast<String*>(a[k - 1].c)->s, x));
    }
  }
  return Value::boolean(ok);
}

Pair* pair_arg(Interp& I, const char* who, Value v) { return I.cell_arg<Pair>(who, v, Tag::Pair, "a pair"); }
Table* table_arg(Interp& I, const char* who, Value v) {
  return I.cell_arg<Table>(who, v, Tag::Table, "a table");
}
std::vector<Value>& vector_arg(Interp& I, const char* who, Value v) {
  return I.cell_arg<Vector>(who, v, Tag::Vector, "a vector")->items;
}

Value cxr(Interp& I, const char* who, Value v) {  // c[ad]+r: applies the letters right to left
  for (const char* p = who + std::strlen(who) - 2; *p != 'c'; --p) {
    Pair* c = pair_arg(I, who, v);
    v = *p == 'a' ? c->car : c->cdr;
  }
  return v;
}

std::size_t index_arg(Interp& I, const char* who, Value v, std::size_t size) {
  std::int64_t k = I.int_arg(who, v);
  if (k < 0 || static_cast<std::uint64_t>(k) >= size)
    I.fail(std::string(who) + ": index out of range: " + std::to_string(k));
  return static_cast<std::size_t>(k);
}

std::string table_key(Interp& I, const char* who, Value k) {
  if (k.t != Tag::Str && k.t != Tag::Sym && k.t != Tag::Int && k.t != Tag::Bool)
    I.type_error(who, "a string, symbol, number or boolean key", k);
  std::string o;
  I.print(o, k, true);
  return o;
}

Value list_tail(Interp& I, const char* who, Value list, Value index) {
  std::int64_t k = I.int_arg(who, index);
  for (; k > 0 && list.t == Tag::Pair; --k) list = cdr(list);
  if (k != 0) I.fail(std::string(who) + ": index out of range");
  return list;
}

Value proper_list(Interp& I, const char* who, Value v) {
  if (list_length(v) < 0) I.type_error(who, "a proper list", v);
  return v;
}

struct BuiltinDef {
  const char* name;
  int min_args, max_args;
  BuiltinFn fn;
};

const BuiltinDef kBuiltins[] = {
    {"+", 0, -1, BUILTIN { return arith(I, "+", a, n, 0, kAdd); }},
    {"*", 0, -1, BUILTIN { return arith(I, "*", a, n, 1, kMul); }},
    {"-", 1, -1, BUILTIN {
       return n == 1 ? arith(I, "-", a, 1, 0, kSub) : arith(I, "-", a + 1, n - 1, I.int_arg("-", a[0]), kSub);
     }},
    {"quotient", 2, 2, BUILTIN {
       auto [x, y] = division(I, "quotient", a);
       if (y == -1 && x == INT64_MIN) I.fail("quotient: integer overflow");
       return Value::integer(x / y);
     }},
    {"remainder", 2, 2, BUILTIN {
       auto [x, y] = division(I, "remainder", a);
       return Value::integer(y == -1 ? 0 : x % y);
     }},
    {"modulo", 2, 2, BUILTIN {
       auto [x, y] = division(I, "modulo", a);
       std::int64_t r = y == -1 ? 0 : x % y;
       return Value::integer(r != 0 && (r < 0) != (y < 0) ? r + y : r);
     }},
    {"<", 1, -1, BUILTIN { return compare(I, "<", a, n, std::less<std::int64_t>()); }},
    {">", 1, -1, BUILTIN { return compare(I, ">", a, n, std::greater<std::int64_t>()); }},
    {"=", 1, -1, BUILTIN { return compare(I, "=", a, n, std::equal_to<std::int64_t>()); }},
    {"<=", 1, -1, BUILTIN { return compare(I, "<=", a, n, std::less_equal<std::int64_t>()); }},
    {">=", 1, -1, BUILTIN { return compare(I, ">=", a, n, std::greater_equal<std::int64_t>()); }},
    {"not", 1, 1, BUILTIN { return Value::boolean(!a[0].truthy()); }},
    {"eq?", 2, 2, BUILTIN { return Value::boolean(Interp::eqv(a[0], a[1])); }},
    {"equal?", 2, 2, BUILTIN { return Value::boolean(I.equal(a[0], a[1])); }},
    {"cons", 2, 2, BUILTIN { return I.cons(a[0], a[1]); }},
    {"car", 1, 1, BUILTIN { return pair_arg(I, "car", a[0])->car; }},
    {"cdr", 1, 1, BUILTIN { return pair_arg(I, "cdr", a[0])->cdr; }},
    {"cadr", 1, 1, BUILTIN { return cxr(I, "cadr", a[0]); }},
    {"cddr", 1, 1, BUILTIN { return cxr(I, "cddr", a[0]); }},
    {"caddr", 1, 1, BUILTIN { return cxr(I, "caddr", a[0]); }},
    {"set-car!", 2, 2, BUILTIN { pair_arg(I, "set-car!", a[0])->car = a[1]; return Value(); }},
    {"set-cdr!", 2, 2, BUILTIN { pair_arg(I, "set-cdr!", a[0])->cdr = a[1]; return Value(); }},
    {"list", 0, -1, BUILTIN {
       Value r = Value::nil();
       for (int k = n - 1; k >= 0; --k) r = I.cons(a[k], r);  // r: pinned by cons
       return r;
     }},
    {"length", 1, 1, BUILTIN { return Value::integer(list_length(proper_list(I, "length", a[0]))); }},
    {"append", 0, -1, BUILTIN {
       if (n == 0) return Value::nil();
       I.push(a[n - 1]);  // on the stack: the result so far, and the copy of a[k] being made
       for (int k = n - 2; k >= 0; --k) {
         if (proper_list(I, "append", a[k]).t == Tag::Nil) continue;
         I.push(I.cons(car(a[k]), Value::nil()));
         Pair* tail = pair(I.stack_.back());  // reachable from the copy
         for (Value v = cdr(a[k]); v.t == Tag::Pair; v = cdr(v))
           tail = pair(tail->cdr = I.cons(car(v), Value::nil()));
         tail->cdr = I.stack_[I.stack_.size() - 2];
         I.stack_[I.stack_.size() - 2] = I.stack_.back();
         I.stack_.pop_back();
       }
       Value r = I.stack_.back();
       I.stack_.pop_back();
       return r;
     }},
    {"reverse", 1, 1, BUILTIN {
       Value r = Value::nil();
       for (Value v = proper_list(I, "reverse", a[0]); v.t == Tag::Pair; v = cdr(v)) r = I.cons(car(v), r);
       return r;
     }},
    {"list-tail", 2, 2, BUILTIN { return list_tail(I, "list-tail", a[0], a[1]); }},
    {"list-ref", 2, 2, BUILTIN {
       Value v = list_tail(I, "list-ref", a[0], a[1]);
       if (v.t != Tag::Pair) I.fail("list-ref: index out of range");
       return car(v);
     }},
    {"null?", 1, 1, BUILTIN { return Value::boolean(a[0].t == Tag::Nil); }},
    {"pair?", 1, 1, BUILTIN { return Value::boolean(a[0].t == Tag::Pair); }},
    {"number?", 1, 1, BUILTIN { return Value::boolean(a[0].t == Tag::Int); }},
    {"string?", 1, 1, BUILTIN { return Value::boolean(a[0].t == Tag::Str); }},
    {"symbol?", 1, 1, BUILTIN { return Value::boolean(a[0].t == Tag::Sym); }},
    {"procedure?", 1, 1, BUILTIN {
       return Value::boolean(a[0].t == Tag::Closure || a[0].t == Tag::Builtin);
     }},
    {"apply", 2, -1, nullptr},
    {"string-append", 0, -1, BUILTIN {
       std::string s;
       for (int k = 0; k < n; ++k) s += string_arg(I, "string-append", a[k]);
       return I.make_string(std::move(s));
     }},
    {"number->string", 1, 1, BUILTIN {
       return I.make_string(std::to_string(I.int_arg("number->string", a[0])));
     }},
    {"string->symbol", 1, 1, BUILTIN { return Value::of(I.intern(string_arg(I, "string->symbol", a[0]))); }},
    {"symbol->string", 1, 1, BUILTIN {
       return I.make_string(I.cell_arg<Symbol>("symbol->string", a[0], Tag::Sym, "a symbol")->name);
     }},
    {"string-length", 1, 1, BUILTIN {
       return Value::integer(static_cast<std::int64_t>(string_arg(I, "string-length", a[0]).size()));
     }},
    {"substring", 2, 3, BUILTIN {  // (substring s start [end])
       const std::string& s = string_arg(I, "substring", a[0]);
       std::int64_t from = I.int_arg("substring", a[1]);
       std::int64_t to = n == 3 ? I.int_arg("substring", a[2]) : static_cast<std::int64_t>(s.size());
       if (from < 0 || to < from || static_cast<std::uint64_t>(to) > s.size())
         I.fail("substring: index out of range");
       return I.make_string(s.substr(static_cast<std::size_t>(from), static_cast<std::size_t>(to - from)));
     }},
    {"string=?", 1, -1, BUILTIN { return compare(I, "string=?", a, n, std::equal_to<std::string>()); }},
    {"string<?", 1, -1, BUILTIN { return compare(I, "string<?", a, n, std::less<std::string>()); }},
    {"display", 1, 1, BUILTIN { I.print(I.out_, a[0], false); return Value(); }},
    {"write", 1, 1, BUILTIN { I.print(I.out_, a[0], true); return Value(); }},
    {"newline", 0, 0, BUILTIN { I.out_ += '\n'; return Value(); }},
    {"error", 1, -1, BUILTIN {  // (error message irritant...)
       std::string msg;
       I.print(msg, a[0], false, 200);
       for (int k = 1; k < n; ++k) I.print(msg += ' ', a[k], true, 200);
       I.fail(msg);
     }},
    {"make-table", 0, 0, BUILTIN { return I.make_table(); }},
    {"table-set!", 3, 3, BUILTIN {
       Table* t = table_arg(I, "table-set!", a[0]);
       t->map.insert_or_assign(table_key(I, "table-set!", a[1]), std::pair(a[1], a[2]));
       return Value();
     }},
    {"table-ref", 2, 3, BUILTIN {  // (table-ref table key [default])
       Table* t = table_arg(I, "table-ref", a[0]);
       auto it = t->map.find(table_key(I, "table-ref", a[1]));
       if (it != t->map.end()) return it->second.second;
       if (n < 3) I.fail("table-ref: key not found: " + I.repr(a[1]));
       return a[2];
     }},
    {"table-count", 1, 1, BUILTIN {
       return Value::integer(static_cast<std::int64_t>(table_arg(I, "table-count", a[0])->map.size()));
     }},
    {"table-keys", 1, 1, BUILTIN {  // sorted by their written forms, so the order is fixed
       Table* t = table_arg(I, "table-keys", a[0]);
       std::vector<const std::pair<const std::string, std::pair<Value, Value>>*> entries;
       for (const auto& entry : t->map) entries.push_back(&entry);
       std::sort(entries.begin(), entries.end(), [](auto* x, auto* y) { return x->first < y->first; });
       Value r = Value::nil();
       for (auto it = entries.rbegin(); it != entries.rend(); ++it) r = I.cons((*it)->second.first, r);
       return r;
     }},
    {"make-vector", 1, 2, BUILTIN {  // (make-vector size [fill]); fill defaults to 0
       std::int64_t size = I.int_arg("make-vector", a[0]);
       if (size < 0 || size > (std::int64_t{1} << 28))
         I.fail("make-vector: bad size: " + std::to_string(size));
       return I.make_vector(static_cast<std::size_t>(size), n == 2 ? a[1] : Value::integer(0));
     }},
    {"vector", 0, -1, BUILTIN {
       Value v = I.make_vector(0, Value());
       static_cast<Vector*>(v.c)->items.assign(a, a + n);
       return v;
     }},
    {"vector-length", 1, 1, BUILTIN {
       return Value::integer(static_cast<std::int64_t>(vector_arg(I, "vector-length", a[0]).size()));
     }},
    {"vector-ref", 2, 2, BUILTIN {
       auto& items = vector_arg(I, "vector-ref", a[0]);
       return items[index_arg(I, "vector-ref", a[1], items.size())];
     }},
    {"vector-set!", 3, 3, BUILTIN {
       auto& items = vector_arg(I, "vector-set!", a[0]);
       items[index_arg(I, "vector-set!", a[1], items.size())] = a[2];
       return Value();
     }},
};

Interp::Interp(std::string& out, std::FILE* echo, std::size_t gc_every)
    : out_(out), echo_(echo), threshold_(gc_every ? gc_every : kMinGcInterval), gc_every_(gc_every) {
  // The C++ stack recursion may use: all of this thread's from here down, less a margin.
  stack_top_ = reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0));
  stack_budget_ = 4 << 20;
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) == 0) {
    void* low = nullptr;
    std::size_t size = 0;
    auto bottom = [&] { return reinterpret_cast<std::uintptr_t>(low); };
    if (pthread_attr_getstack(&attr, &low, &size) == 0 && stack_top_ > bottom()) {
      std::uintptr_t avail = stack_top_ - bottom(), margin = 512 << 10;
      stack_budget_ = std::min<std::uintptr_t>(avail > 2 * margin ? avail - margin : avail / 2, 1 << 30);
    }
    pthread_attr_destroy(&attr);
  }
  stack_.reserve(kStackValues);  // address space only, until used
  const std::pair<const char*, Special> specials[] = {
      {"quote", Special::Quote}, {"if", Special::If},         {"define", Special::Define},
      {"set!", Special::Set},    {"lambda", Special::Lambda}, {"let", Special::Let},
      {"let*", Special::LetStar}, {"letrec", Special::Letrec}, {"begin", Special::Begin},
      {"cond", Special::Cond},   {"and", Special::And},       {"or", Special::Or},
      {"when", Special::When},   {"unless", Special::Unless},
  };
  for (const auto& [name, special] : specials) intern(name)->special = special;
  s_quote_ = intern("quote");
  s_else_ = intern("else");
  global_ = make_env(nullptr, 0);
  for (const BuiltinDef& d : kBuiltins)
    define(global_, intern(d.name), Value::of(alloc<Builtin>({}, d.name, d.fn, d.min_args, d.max_args)));
  load("<prelude>", kPrelude, false);
}

Interp::~Interp() {
  flush();
  for (Cell* c : heap_) destroy(c);
  for (auto& entry : symtab_) delete entry.second;
}

// ---------------------------------------------------------------------------------------------
// Driver
// ---------------------------------------------------------------------------------------------
struct Source {
  std::string name, text;
};

struct ThreadResult {
  std::string output;  // of the first repeat
  std::string error;   // empty: none
  GcStats stats;       // summed over the repeats
};

void run_thread(int id, const std::vector<Source>& sources, long repeats, long gc_every,
                ThreadResult& result) {
  for (long r = 0; r < repeats && result.error.empty(); ++r) {
    std::string out;
    try {
      Interp interp(out, id == 0 && r == 0 ? stdout : nullptr, static_cast<std::size_t>(gc_every));
      for (const Source& s : sources) interp.load(s.name, s.text, true);
      const GcStats& st = interp.stats();
      result.stats.cells += st.cells;
      result.stats.collections += st.collections;
      result.stats.freed += st.freed;
      result.stats.peak_cells = std::max(result.stats.peak_cells, st.peak_cells);
    } catch (const LispError& e) {
      result.error = e.text;
    } catch (const std::exception& e) {  // bad_alloc, length_error
      result.error = std::string("error: ") + e.what();
    }
    if (r == 0)
      result.output = std::move(out);
    else if (result.error.empty() && out != result.output)
      result.error = "error: thread " + std::to_string(id) + ": the output of run " + std::to_string(r + 1) +
                     " differs from run 1";
  }
}

std::uint64_t fnv1a(std::string_view s) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char ch : s) h = (h ^ ch) * 0x100000001b3ULL;
  return h;
}

bool read_file(const char* path, std::string& text) {
  std::FILE* f = std::fopen(path, "rb");
  if (!f) return false;
  char buf[65536];
  for (std::size_t got; (got = std::fread(buf, 1, sizeof buf, f)) > 0;) text.append(buf, got);
  bool ok = !std::ferror(f);
  std::fclose(f);
  return ok;
}

constexpr const char* kUsage =
    "usage: memkit-lisp [--threads N] [--repeat R] [--gc-stats] [--gc-every K] [FILE...]\n"
    "Runs the Scheme-like program FILE... (one interpreter, the files in order), or with no FILE\n"
    "the bundled demo, then prints `checksum: <FNV-1a 64 of the output>`.\n"
    "  --threads N   run N independent interpreters on N threads (default 1); only thread 0's\n"
    "                output is printed, and a thread whose output differs is an error\n"
    "  --repeat R    run the program R times per thread, in a fresh interpreter each time\n"
    "  --gc-stats    print the garbage collector's counts (thread 0) to stderr\n"
    "  --gc-every K  collect every K cells, however few are live (slow: tests the collector)\n";

int usage_error(const std::string& msg) {
  std::fprintf(stderr, "memkit-lisp: %s\n%s", msg.c_str(), kUsage);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  long threads = 1, repeats = 1, gc_every = 0;
  bool gc_stats = false, options_done = false;
  std::vector<const char*> files;
  for (int k = 1; k < argc; ++k) {
    std::string_view arg = argv[k];
    if (options_done || arg.size() < 2 || arg[0] != '-') {
      files.push_back(argv[k]);
    } else if (arg == "--") {
      options_done = true;
    } else if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (arg == "--gc-stats") {
      gc_stats = true;
    } else {  // --threads N, --repeat R, --gc-every K (or --option=value)
      const std::pair<std::string_view, long*> numeric[] = {
          {"--threads", &threads}, {"--repeat", &repeats}, {"--gc-every", &gc_every}};
      std::string_view name = arg.substr(0, arg.find('=')), value;
      auto option =
          std::find_if(std::begin(numeric), std::end(numeric), [&](auto& o) { return o.first == name; });
      if (option == std::end(numeric)) return usage_error("unknown option '" + std::string(arg) + "'");
      if (name.size() < arg.size())
        value = arg.substr(name.size() + 1);
      else if (k + 1 < argc)
        value = argv[++k];
      else
        return usage_error(std::string(name) + " needs a value");
      long v = 0;
      auto r = std::from_chars(value.data(), value.data() + value.size(), v);
      long max = name == "--threads" ? 256 : 1L << 30;
      if (r.ec != std::errc() || r.ptr != value.data() + value.size() || v < 1 || v > max)
        return usage_error("bad value for " + std::string(name) + ": '" + std::string(value) + "'");
      *option->second = v;
    }
  }
  std::vector<Source> sources;
  if (files.empty()) sources.push_back({"demo.lisp", kDemoProgram});
  for (const char* f : files) {
    sources.push_back({f, ""});
    if (!read_file(f, sources.back().text)) {
      std::fprintf(stderr, "memkit-lisp: %s: error: cannot read the file: %s\n", f, std::strerror(errno));
      return 1;
    }
  }

  // Non-tail recursion in Lisp is recursion in eval: give the threads a deep stack (only what
  // is used is touched); eval measures it and fails cleanly before its end.
  pthread_attr_t attr;
  if (pthread_attr_init(&attr) == 0) {
    pthread_attr_setstacksize(&attr, kThreadStack);
    pthread_setattr_default_np(&attr);
    pthread_attr_destroy(&attr);
  }
  std::vector<ThreadResult> results(static_cast<std::size_t>(threads));
  std::vector<std::thread> workers;
  try {
    for (std::size_t t = 0; t < results.size(); ++t)
      workers.emplace_back(run_thread, static_cast<int>(t), std::cref(sources), repeats, gc_every,
                           std::ref(results[t]));
  } catch (const std::system_error& e) {
    std::fprintf(stderr, "memkit-lisp: error: cannot start a thread: %s\n", e.what());
    for (auto& w : workers) w.join();
    return 1;
  }
  for (auto& w : workers) w.join();
  std::fflush(stdout);

  for (const ThreadResult& r : results)
    if (!r.error.empty()) {
      std::fprintf(stderr, "memkit-lisp: %s\n", r.error.c_str());
      return 1;
    }
  const std::string& output = results[0].output;
  for (std::size_t t = 1; t < results.size(); ++t)
    if (results[t].output != output) {
      std::fprintf(stderr,
                   "memkit-lisp: error: the output of thread %zu differs from thread 0's"
                   " (checksum %016" PRIx64 " vs %016" PRIx64 ")\n",
                   t, fnv1a(results[t].output), fnv1a(output));
      return 1;
    }
  if (gc_stats) {
    const GcStats& s = results[0].stats;
    std::fprintf(stderr, "memkit-lisp: gc (thread 0, %ld run%s): %" PRIu64 " cells allocated, %" PRIu64
                 " freed, %" PRIu64 " collections, at most %" PRIu64 " cells at once\n",
                 repeats, repeats == 1 ? "" : "s", s.cells, s.freed, s.collections, s.peak_cells);
  }
  // On a line of its own (the checksum is of the program's output only).
  const char* newline = output.empty() || output.back() == '\n' ? "" : "\n";
  std::printf("%schecksum: %016" PRIx64 "\n", newline, fnv1a(output));
  return 0;
}
