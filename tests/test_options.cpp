// Tests MEMKIT_OPTIONS parsing (src/options/): the defaults, every key and value form
// (negative longs, the bool words), the warnings for an unknown key, a bad value and a missing
// '=', empty input and stray ':' separators, every key's values (the boundaries of its range
// from the table itself, powers of two, word choices) and the exact warning text, warnings
// never cut however many or long (in a buffer, to a descriptor, at start-up on stderr), the
// option table against options.def, and options() re-reading the environment.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "options/options.h"

namespace {

using memkit::Options;
using memkit::OptionInfo;
using memkit::parse_options;

// Parses text over a default Options; returns the warning text.
struct Parsed {
  Options opts;
  int problems = 0;
  std::string err;
};

Parsed parse(const char* text) {
  Parsed p;
  std::string err(64 * 1024, 'x');
  p.problems = parse_options(text, &p.opts, err.data(), err.size());
  p.err = err.c_str();
  return p;
}

size_t count_lines(const std::string& s) {
  size_t n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

void expect_defaults(const Options& o) {
  EXPECT_EQ(o.decay_ms, 1000);
  EXPECT_EQ(o.purge_order, 6);
  EXPECT_FALSE(o.madv_free);
  EXPECT_FALSE(o.huge_pages);
  EXPECT_TRUE(o.release_arenas);
}

TEST(Options, Defaults) { expect_defaults(Options{}); }

TEST(Options, EmptyTextChangesNothing) {
  for (const char* text : {"", ":", "::", static_cast<const char*>(nullptr)}) {
    SCOPED_TRACE(text ? text : "(null)");
    const Parsed p = parse(text);
    EXPECT_EQ(p.problems, 0);
    EXPECT_EQ(p.err, "");
    expect_defaults(p.opts);
  }
}

TEST(Options, TextValues) {
  EXPECT_TRUE(Options{}.check == "fast");
  EXPECT_TRUE(Options{}.suppressions.empty());
  Parsed p = parse("check=full:suppressions=/tmp/x.supp");
  EXPECT_EQ(p.problems, 0);
  EXPECT_STREQ(p.opts.check.c_str(), "full");
  EXPECT_STREQ(p.opts.suppressions.c_str(), "/tmp/x.supp");
  p = parse("suppressions=");
  EXPECT_EQ(p.problems, 0);
  EXPECT_TRUE(p.opts.suppressions.empty());
  p = parse(("suppressions=" + std::string(300, 'x')).c_str());  // longer than the buffer
  EXPECT_EQ(p.problems, 1);
  EXPECT_TRUE(p.opts.suppressions.empty());
}

TEST(Options, LongValues) {
  Parsed p = parse("decay_ms=-1:purge_order=9");
  EXPECT_EQ(p.problems, 0);
  EXPECT_EQ(p.err, "");
  EXPECT_EQ(p.opts.decay_ms, -1);
  EXPECT_EQ(p.opts.purge_order, 9);
  p = parse("decay_ms=0");
  EXPECT_EQ(p.opts.decay_ms, 0);
  p = parse("decay_ms=+25");
  EXPECT_EQ(p.problems, 0);
  EXPECT_EQ(p.opts.decay_ms, 25);
  p = parse("quarantine_bytes=+1099511627776");
  EXPECT_EQ(p.problems, 0);
  EXPECT_EQ(p.opts.quarantine_bytes, 1099511627776L);
  // Numbers beyond any key's range, down to the edges of a long, are out of range, not wrapped.
  for (const char* text : {"decay_ms=-9223372036854775807", "decay_ms=9223372036854775807",
                           "decay_ms=-9223372036854775808"}) {
    SCOPED_TRACE(text);
    p = parse(text);
    EXPECT_EQ(p.problems, 1);
    EXPECT_EQ(p.opts.decay_ms, 1000);
  }
}

TEST(Options, BoolWords) {
  for (const char* word : {"1", "true", "yes", "on"}) {
    SCOPED_TRACE(word);
    const Parsed p = parse((std::string("madv_free=") + word + ":release_arenas=" + word).c_str());
    EXPECT_EQ(p.problems, 0);
    EXPECT_TRUE(p.opts.madv_free);
    EXPECT_TRUE(p.opts.release_arenas);
  }
  for (const char* word : {"0", "false", "no", "off"}) {
    SCOPED_TRACE(word);
    const Parsed p = parse((std::string("huge_pages=1:huge_pages=") + word).c_str());
    EXPECT_EQ(p.problems, 0);
    EXPECT_FALSE(p.opts.huge_pages);
    const Parsed q = parse((std::string("release_arenas=") + word).c_str());
    EXPECT_FALSE(q.opts.release_arenas);
  }
}

TEST(Options, LaterKeysOverrideEarlierOnes) {
  const Parsed p = parse("decay_ms=5:decay_ms=7");
  EXPECT_EQ(p.problems, 0);
  EXPECT_EQ(p.opts.decay_ms, 7);
}

TEST(Options, TrailingAndDoubledSeparators) {
  const Parsed p = parse(":decay_ms=5::madv_free=yes:");
  EXPECT_EQ(p.problems, 0);
  EXPECT_EQ(p.err, "");
  EXPECT_EQ(p.opts.decay_ms, 5);
  EXPECT_TRUE(p.opts.madv_free);
}

TEST(Options, KeysNotMentionedKeepTheCallersValues) {
  Options o;
  o.decay_ms = 42;
  o.huge_pages = true;
  EXPECT_EQ(parse_options("purge_order=3", &o, nullptr, 0), 0);
  EXPECT_EQ(o.decay_ms, 42);
  EXPECT_TRUE(o.huge_pages);
  EXPECT_EQ(o.purge_order, 3);
}

TEST(Options, UnknownKeyWarnsAndIsIgnored) {
  const Parsed p = parse("decay_ms=5:no_such_key=1:purge_order=2");
  EXPECT_EQ(p.problems, 1);
  EXPECT_EQ(p.err.rfind("memkit: warning: ", 0), 0u) << p.err;
  EXPECT_NE(p.err.find("unknown option"), std::string::npos) << p.err;
  EXPECT_NE(p.err.find("no_such_key"), std::string::npos) << p.err;
  EXPECT_EQ(count_lines(p.err), 1u);
  EXPECT_EQ(p.err.back(), '\n');
  EXPECT_EQ(p.opts.decay_ms, 5);  // the good keys around it still apply
  EXPECT_EQ(p.opts.purge_order, 2);
}

TEST(Options, KeyPrefixesAndCaseAreNotKeys) {
  for (const char* text : {"decay=5", "decay_ms_x=5", "DECAY_MS=5", "=5", " decay_ms=5"}) {
    SCOPED_TRACE(text);
    const Parsed p = parse(text);
    EXPECT_EQ(p.problems, 1);
    EXPECT_NE(p.err.find("unknown option"), std::string::npos) << p.err;
    EXPECT_EQ(p.opts.decay_ms, 1000);
  }
}

TEST(Options, BadValueWarnsAndKeepsTheDefault) {
  for (const char* text :
       {"decay_ms=abc", "decay_ms=", "decay_ms=-", "decay_ms=12x", "decay_ms=1=2", "decay_ms= 1",
        "decay_ms=99999999999999999999", "madv_free=maybe", "madv_free=", "madv_free=2",
        "release_arenas=TRUE"}) {
    SCOPED_TRACE(text);
    const Parsed p = parse(text);
    EXPECT_EQ(p.problems, 1);
    EXPECT_NE(p.err.find("bad value"), std::string::npos) << p.err;
    EXPECT_NE(p.err.find(text), std::string::npos) << p.err;
    EXPECT_EQ(count_lines(p.err), 1u);
    expect_defaults(p.opts);
  }
}

TEST(Options, MissingEqualsWarns) {
  const Parsed p = parse("decay_ms:madv_free=1");
  EXPECT_EQ(p.problems, 1);
  EXPECT_NE(p.err.find("expected key=value"), std::string::npos) << p.err;
  EXPECT_NE(p.err.find("'decay_ms'"), std::string::npos) << p.err;
  EXPECT_EQ(p.opts.decay_ms, 1000);
  EXPECT_TRUE(p.opts.madv_free);
}

TEST(Options, OneLinePerProblem) {
  const Parsed p = parse("a=1:decay_ms=x:b:purge_order=4");
  EXPECT_EQ(p.problems, 3);
  EXPECT_EQ(count_lines(p.err), 3u);
  EXPECT_EQ(p.opts.purge_order, 4);
}

// The buffer form keeps whole warnings only: for every buffer size, the text is the longest run
// of whole warnings from the start that fits, NUL-terminated; the problems are always counted.
TEST(Options, BufferKeepsOnlyWholeWarnings) {
  const char* text = "no_such_key=1:decay_ms=-5:x:check=slow";
  const Parsed all = parse(text);
  ASSERT_EQ(all.problems, 4);
  ASSERT_EQ(count_lines(all.err), 4u);
  ASSERT_LT(all.err.size(), 4096u);
  for (size_t len = 1; len <= all.err.size() + 1; ++len) {
    SCOPED_TRACE(len);
    std::string err(len, 'x');
    Options o;
    EXPECT_EQ(parse_options(text, &o, err.data(), len), 4);
    const std::string got(err.c_str());
    std::string want;  // the longest whole-line prefix of all.err shorter than len
    for (size_t at = 0; at < all.err.size();) {
      const size_t nl = all.err.find('\n', at);
      if (nl + 1 >= len) break;
      want = all.err.substr(0, nl + 1);
      at = nl + 1;
    }
    EXPECT_EQ(got, want);
  }
  // No buffer at all: the problems are still counted.
  Options o;
  EXPECT_EQ(parse_options("no_such_key=1:x", &o, nullptr, 0), 2);
  char one[1] = {'x'};
  EXPECT_EQ(parse_options("no_such_key=1", &o, one, sizeof one), 1);
  EXPECT_EQ(one[0], '\0');
}

// ---- each key's values, from the table ----

using memkit::OptionCheck;

// Every long key's value by name, through the same X-macro as Options.
long get(long v) { return v; }
long get(bool) { return LONG_MIN; }
long get(const memkit::str&) { return LONG_MIN; }
long long_value(const Options& o, const std::string& key) {
#define MK_OPTION(type, name, def, values, doc) \
  if (key == #name) return get(o.name);
#include "options/options.def"
#undef MK_OPTION
  ADD_FAILURE() << "no key " << key;
  return LONG_MIN;
}
std::string str_value(const Options& o, const std::string& key) {
  if (key == "check") return o.check.c_str();
  if (key == "stack_unwinder") return o.stack_unwinder.c_str();
  if (key == "suppressions") return o.suppressions.c_str();
  if (key == "color") return o.color.c_str();
  ADD_FAILURE() << "no str key " << key;
  return {};
}

std::string values_text(const OptionInfo& o) {
  char buf[160];
  memkit::option_values_text(o, buf, sizeof buf);
  return buf;
}

// The warning for KEY=VALUE, spelled out here.
std::string bad_value(const OptionInfo& o, const std::string& value) {
  const std::string def = *o.default_text ? o.default_text : "(empty)";
  return "memkit: warning: MEMKIT_OPTIONS: bad value in '" + std::string(o.name) + "=" + value +
         "': " + o.name + " takes " + values_text(o) + "; the default " + def + " is used\n";
}

long fd_limit() {
  rlimit rl{};
  EXPECT_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
  return rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > INT_MAX ? INT_MAX : static_cast<long>(rl.rlim_cur);
}

// Every long key: its min and max are taken, min-1 and max+1 are one warning each and give the
// default, even over another value.
TEST(Options, EveryLongKeysBoundaries) {
  size_t count = 0;
  const OptionInfo* table = memkit::option_table(&count);
  size_t checked = 0;
  for (size_t i = 0; i < count; ++i) {
    const OptionInfo& o = table[i];
    if (std::string(o.type) != "long") continue;
    SCOPED_TRACE(o.name);
    ASSERT_NE(o.check, OptionCheck::kAny) << "every long key has a range";
    ASSERT_NE(o.check, OptionCheck::kChoices);
    const long max = memkit::option_max(o);
    if (o.check == OptionCheck::kFd) {
      EXPECT_EQ(max, fd_limit() - 1);
    } else {
      EXPECT_EQ(max, o.max);
    }
    ASSERT_LT(o.min, max);
    const long def = long_value(Options{}, o.name);
    EXPECT_GE(def, o.min);
    EXPECT_LE(def, max);
    const std::string key(o.name);
    for (const long v : {o.min, max}) {
      const Parsed p = parse((key + "=" + std::to_string(v)).c_str());
      EXPECT_EQ(p.problems, 0) << p.err;
      EXPECT_EQ(long_value(p.opts, key), v);
    }
    const long mid = o.min == def ? max : o.min;  // a good value other than the default
    for (const long v : {o.min - 1, max + 1}) {
      const std::string value = std::to_string(v);
      const Parsed p = parse((key + "=" + std::to_string(mid) + ":" + key + "=" + value).c_str());
      EXPECT_EQ(p.problems, 1);
      EXPECT_EQ(p.err, bad_value(o, value));
      EXPECT_EQ(long_value(p.opts, key), def);
    }
    ++checked;
  }
  EXPECT_GE(checked, 16u);
}

// A power-of-two key takes exactly the powers of two of its range.
TEST(Options, PowerOfTwoKeys) {
  size_t count = 0;
  const OptionInfo* table = memkit::option_table(&count);
  size_t checked = 0;
  for (size_t i = 0; i < count; ++i) {
    const OptionInfo& o = table[i];
    if (o.check != OptionCheck::kPow2) continue;
    SCOPED_TRACE(o.name);
    EXPECT_NE(values_text(o).find("power of two"), std::string::npos);
    for (long v = o.min - 1; v <= o.max + 1; ++v) {
      const Parsed p = parse((std::string(o.name) + "=" + std::to_string(v)).c_str());
      const bool good = v >= o.min && v <= o.max && v > 0 && (v & (v - 1)) == 0;
      EXPECT_EQ(p.problems, good ? 0 : 1) << v;
      EXPECT_EQ(long_value(p.opts, o.name), good ? v : long_value(Options{}, o.name)) << v;
    }
    ++checked;
  }
  EXPECT_GE(checked, 1u);
}

// A str key with choices takes each of its words, and nothing near them.
TEST(Options, ChoiceKeys) {
  size_t count = 0;
  const OptionInfo* table = memkit::option_table(&count);
  size_t checked = 0;
  for (size_t i = 0; i < count; ++i) {
    const OptionInfo& o = table[i];
    if (o.check != OptionCheck::kChoices) continue;
    SCOPED_TRACE(o.name);
    const std::string key(o.name);
    std::string words = o.choices;
    std::vector<std::string> choices;
    for (size_t at = 0;;) {
      const size_t bar = words.find('|', at);
      choices.push_back(words.substr(at, bar == std::string::npos ? bar : bar - at));
      if (bar == std::string::npos) break;
      at = bar + 1;
    }
    ASSERT_GE(choices.size(), 2u);
    EXPECT_EQ(values_text(o), words);
    for (const std::string& w : choices) {
      const Parsed p = parse((key + "=" + w).c_str());
      EXPECT_EQ(p.problems, 0) << p.err;
      EXPECT_EQ(str_value(p.opts, key), w);
      std::string upper = w;
      for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      for (const std::string& bad : {w + "x", w.substr(0, w.size() - 1), upper, std::string(), words}) {
        const Parsed q = parse((key + "=" + choices.back() + ":" + key + "=" + bad).c_str());
        EXPECT_EQ(q.problems, 1) << bad;
        EXPECT_EQ(q.err, bad_value(o, bad));
        EXPECT_EQ(str_value(q.opts, key), o.default_text);
      }
    }
    ++checked;
  }
  EXPECT_EQ(checked, 3u);  // check, stack_unwinder, color
}

// The values of the issue that were taken silently: each is one warning and the default.
TEST(Options, OutOfRangeValuesFromTheIssue) {
  const Options d;
  const Parsed p = parse(
      "decay_ms=-5:purge_order=100:redzone=0:stack_depth=1000:leak_exitcode=300:report_fd=-5:"
      "stats_fd=999999:quarantine_bytes=-1:full_align=3:check=slow:stack_unwinder=gdb");
  EXPECT_EQ(p.problems, 11);
  EXPECT_EQ(count_lines(p.err), 11u);
  EXPECT_EQ(p.opts.decay_ms, d.decay_ms);
  EXPECT_EQ(p.opts.purge_order, d.purge_order);
  EXPECT_EQ(p.opts.redzone, d.redzone);
  EXPECT_EQ(p.opts.stack_depth, d.stack_depth);
  EXPECT_EQ(p.opts.leak_exitcode, d.leak_exitcode);
  EXPECT_EQ(p.opts.report_fd, d.report_fd);
  EXPECT_EQ(p.opts.stats_fd, d.stats_fd);
  EXPECT_EQ(p.opts.quarantine_bytes, d.quarantine_bytes);
  EXPECT_EQ(p.opts.full_align, d.full_align);
  EXPECT_STREQ(p.opts.check.c_str(), "fast");
  EXPECT_STREQ(p.opts.stack_unwinder.c_str(), "fast");
}

TEST(Options, ExactWarnings) {
  const char* kHead = "memkit: warning: MEMKIT_OPTIONS: ";
  EXPECT_EQ(parse("decay_ms=-5").err,
            std::string(kHead) + "bad value in 'decay_ms=-5': decay_ms takes -1..86400000; the default 1000 is used\n");
  EXPECT_EQ(parse("leak_exitcode=300").err,
            std::string(kHead) + "bad value in 'leak_exitcode=300': leak_exitcode takes 0..255; the default 23 is used\n");
  EXPECT_EQ(parse("redzone=abc").err,
            std::string(kHead) + "bad value in 'redzone=abc': redzone takes 16..4096; the default 16 is used\n");
  EXPECT_EQ(parse("full_align=3").err,
            std::string(kHead) +
                "bad value in 'full_align=3': full_align takes 1..16, a power of two; the default 8 is used\n");
  EXPECT_EQ(parse("check=slow").err,
            std::string(kHead) + "bad value in 'check=slow': check takes fast|full; the default fast is used\n");
  EXPECT_EQ(parse("madv_free=maybe").err,
            std::string(kHead) +
                "bad value in 'madv_free=maybe': madv_free takes 1/0, true/false, yes/no, on/off; the default false is used\n");
  EXPECT_EQ(parse("stats_fd=999999").err,
            std::string(kHead) + "bad value in 'stats_fd=999999': stats_fd takes -1.." + std::to_string(fd_limit() - 1) +
                " (RLIMIT_NOFILE-1); the default -1 is used\n");
  EXPECT_EQ(parse("report_fd=-1").err,
            std::string(kHead) + "bad value in 'report_fd=-1': report_fd takes 0.." + std::to_string(fd_limit() - 1) +
                " (RLIMIT_NOFILE-1); the default 2 is used\n");
  EXPECT_EQ(parse(("suppressions=" + std::string(256, 'x')).c_str()).err,
            std::string(kHead) + "bad value in 'suppressions=" + std::string(256, 'x') +
                "': suppressions takes text of at most 255 bytes; the default (empty) is used\n");
  // Control bytes of the input become '?': a warning stays one line.
  EXPECT_EQ(parse("decay_ms=1\n2").err,
            std::string(kHead) + "bad value in 'decay_ms=1?2': decay_ms takes -1..86400000; the default 1000 is used\n");
  EXPECT_EQ(parse("no_such\tkey=1").err,
            std::string(kHead) + "unknown option 'no_such?key=1' (ignored; `memkit options` lists the keys)\n");
}

// Very many, very long bad keys: every warning comes out whole, to a descriptor and at start-up
// on stderr (which used to go through one 1 KiB buffer, cut mid-word).
std::string many_long_bad_keys(std::string* want) {
  std::string text;
  for (int i = 0; i < 300; ++i) {
    std::string item;
    switch (i % 4) {
      case 0: item = "no_such_key_" + std::string(static_cast<size_t>(50 + i * 7), 'k') + "=" + std::to_string(i); break;
      case 1: item = "decay_ms=-" + std::string(static_cast<size_t>(1 + i % 18), '7'); break;
      case 2: item = "stack_depth=" + std::to_string(1000 + i); break;
      case 3: item = "check=" + std::string(static_cast<size_t>(200 + i % 50), 'w'); break;
    }
    text += item + ":";
    if (i % 4 == 0) {
      *want += "memkit: warning: MEMKIT_OPTIONS: unknown option '" + item +
               "' (ignored; `memkit options` lists the keys)\n";
    } else {
      size_t count = 0;
      const OptionInfo* table = memkit::option_table(&count);
      const std::string key = item.substr(0, item.find('='));
      for (size_t k = 0; k < count; ++k)
        if (key == table[k].name) *want += bad_value(table[k], item.substr(item.find('=') + 1));
    }
  }
  return text;
}

std::string read_all(FILE* f) {
  std::string out;
  std::rewind(f);
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) out.append(buf, n);
  return out;
}

TEST(Options, ManyLongWarningsAreWholeOnADescriptor) {
  std::string want;
  const std::string text = many_long_bad_keys(&want);
  ASSERT_GT(want.size(), 64u * 1024);
  FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  Options o;
  EXPECT_EQ(parse_options(text.c_str(), &o, fileno(f)), 300);
  const std::string got = read_all(f);
  std::fclose(f);
  EXPECT_EQ(count_lines(got), 300u);
  EXPECT_TRUE(got == want) << "got " << got.size() << " bytes, want " << want.size();
}

TEST(Options, ManyLongWarningsAreWholeOnStderrAtStartUp) {
  std::string want;
  const std::string text = many_long_bad_keys(&want);
  memkit::options();  // read once already: the reload below reads only once more
  FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  std::fflush(stderr);
  const int saved = dup(2);
  ASSERT_GE(saved, 0);
  ASSERT_EQ(dup2(fileno(f), 2), 2);
  setenv("MEMKIT_OPTIONS", text.c_str(), 1);
  memkit::reload_options_for_testing();
  std::fflush(stderr);
  dup2(saved, 2);
  close(saved);
  unsetenv("MEMKIT_OPTIONS");
  memkit::reload_options_for_testing();
  const std::string got = read_all(f);
  std::fclose(f);
  EXPECT_EQ(count_lines(got), 300u);
  EXPECT_TRUE(got == want) << "got " << got.size() << " bytes, want " << want.size() << ":\n"
                           << got.substr(0, 2000);
}

TEST(Options, TableMatchesOptionsDef) {
  size_t count = 0;
  const OptionInfo* table = memkit::option_table(&count);
  ASSERT_NE(table, nullptr);

  std::ifstream def(MEMKIT_SOURCE_DIR "/src/options/options.def");
  ASSERT_TRUE(def) << "cannot read options.def";
  size_t lines = 0;
  for (std::string line; std::getline(def, line);) lines += line.rfind("MK_OPTION(", 0) == 0;
  EXPECT_EQ(count, lines);

  std::set<std::string> names;
  for (size_t i = 0; i < count; ++i) {
    SCOPED_TRACE(table[i].name);
    EXPECT_TRUE(names.insert(table[i].name).second) << "duplicate key";
    EXPECT_TRUE(std::string(table[i].type) == "long" || std::string(table[i].type) == "bool" ||
                std::string(table[i].type) == "str");
    EXPECT_GT(std::strlen(table[i].help), 0u);
    // The default, written back as text, parses cleanly to the struct's default.
    const Parsed p = parse((std::string(table[i].name) + "=" + table[i].default_text).c_str());
    EXPECT_EQ(p.problems, 0) << p.err;
    expect_defaults(p.opts);
  }
}

TEST(Options, OptionsReadsTheEnvironment) {
  ASSERT_EQ(setenv("MEMKIT_OPTIONS", "decay_ms=-1:huge_pages=yes", 1), 0);
  memkit::reload_options_for_testing();
  EXPECT_EQ(memkit::options().decay_ms, -1);
  EXPECT_TRUE(memkit::options().huge_pages);
  EXPECT_EQ(memkit::options().purge_order, 6);

  ASSERT_EQ(unsetenv("MEMKIT_OPTIONS"), 0);
  memkit::reload_options_for_testing();
  expect_defaults(memkit::options());
}

}  // namespace
