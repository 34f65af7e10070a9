// Tests MEMKIT_OPTIONS parsing (src/options/): the defaults, every key and value form
// (negative longs, the bool words), the warnings for an unknown key, a bad value and a missing
// '=', empty input and stray ':' separators, warning truncation, the option table against
// options.def, and options() re-reading the environment.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <string>

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
  char err[1024];
  p.problems = parse_options(text, &p.opts, err, sizeof err);
  p.err = err;
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
  p = parse("decay_ms=-9223372036854775807");
  EXPECT_EQ(p.problems, 0);
  EXPECT_EQ(p.opts.decay_ms, -9223372036854775807L);
  p = parse("decay_ms=9223372036854775807");
  EXPECT_EQ(p.problems, 0);
  EXPECT_EQ(p.opts.decay_ms, 9223372036854775807L);
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

TEST(Options, WarningsAreTruncatedAndTerminated) {
  char err[16];
  std::memset(err, 'x', sizeof err);
  Options o;
  EXPECT_EQ(parse_options("no_such_key=1", &o, err, sizeof err), 1);
  EXPECT_EQ(std::strlen(err), sizeof err - 1);
  EXPECT_EQ(std::string(err), std::string("memkit: warning: ").substr(0, sizeof err - 1));
  // No buffer at all: the problems are still counted.
  EXPECT_EQ(parse_options("no_such_key=1:x", &o, nullptr, 0), 2);
  char one[1] = {'x'};
  EXPECT_EQ(parse_options("no_such_key=1", &o, one, sizeof one), 1);
  EXPECT_EQ(one[0], '\0');
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
