/*
 * test.h: jiaozi's small in-house test runner.
 *
 * TEST(name) { ... } registers a test; CHECK* record failures with both sides printed and
 * keep going; REQUIRE* stop the current test. The runner (tests/test_main.c) runs every test
 * (or those whose name contains an argument), prints each failure, and closes with the line
 * "N passed, N failed" (tests, not checks), exiting non-zero if any test failed.
 * Options the runner does not know (like --kills N) are left for tests to read with
 * test_opt_long().
 */
#ifndef JZ_TEST_H
#define JZ_TEST_H

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef void (*test_fn)(void);
void test_register(const char *name, const char *file, test_fn fn);
/* Records a failure of the current test. */
void test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Number of checks made so far in the current test (a test that checks nothing fails). */
void test_count_check(void);
/* Value of "--name N" on the command line, or def. */
long test_opt_long(const char *name, long def);
/* A per-test temporary directory (created on first call, removed after the test passes);
 * the returned string is owned by the runner. */
const char *test_tmpdir(void);
/* Seed for property tests: --seed N, or a time-based one; printed on failure. */
uint64_t test_seed(void);
/* True when the current test has recorded a failure. */
bool test_failed(void);

#define TEST(name)                                                      \
    static void name(void);                                             \
    __attribute__((constructor)) static void name##_register(void)      \
    {                                                                   \
        test_register(#name, __FILE__, name);                           \
    }                                                                   \
    static void name(void)

#define CHECK(cond)                                                     \
    do {                                                                \
        test_count_check();                                             \
        if (!(cond)) {                                                  \
            test_fail(__FILE__, __LINE__, "CHECK(%s)", #cond);          \
        }                                                               \
    } while (0)

#define REQUIRE(cond)                                                   \
    do {                                                                \
        test_count_check();                                             \
        if (!(cond)) {                                                  \
            test_fail(__FILE__, __LINE__, "REQUIRE(%s)", #cond);        \
            return;                                                     \
        }                                                               \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                              \
    do {                                                                                \
        long long test_a_ = (long long)(a);                                             \
        long long test_b_ = (long long)(b);                                             \
        test_count_check();                                                             \
        if (test_a_ != test_b_) {                                                       \
            test_fail(__FILE__, __LINE__, "CHECK_EQ_INT(%s, %s): %lld != %lld", #a, #b, \
                      test_a_, test_b_);                                                \
        }                                                                               \
    } while (0)

#define REQUIRE_EQ_INT(a, b)                                                              \
    do {                                                                                  \
        long long test_a_ = (long long)(a);                                               \
        long long test_b_ = (long long)(b);                                               \
        test_count_check();                                                               \
        if (test_a_ != test_b_) {                                                         \
            test_fail(__FILE__, __LINE__, "REQUIRE_EQ_INT(%s, %s): %lld != %lld", #a, #b, \
                      test_a_, test_b_);                                                  \
            return;                                                                       \
        }                                                                                 \
    } while (0)

#define CHECK_EQ_STR(a, b)                                                                \
    do {                                                                                  \
        const char *test_a_ = (a);                                                        \
        const char *test_b_ = (b);                                                        \
        test_count_check();                                                               \
        if (test_a_ == NULL || test_b_ == NULL || strcmp(test_a_, test_b_) != 0) {        \
            test_fail(__FILE__, __LINE__, "CHECK_EQ_STR(%s, %s): \"%s\" != \"%s\"", #a, #b, \
                      test_a_ ? test_a_ : "(null)", test_b_ ? test_b_ : "(null)");        \
        }                                                                                 \
    } while (0)

#define CHECK_EQ_MEM(a, b, n)                                                      \
    do {                                                                           \
        test_count_check();                                                        \
        if (memcmp((a), (b), (n)) != 0) {                                          \
            test_fail(__FILE__, __LINE__, "CHECK_EQ_MEM(%s, %s, %s) differ", #a, #b, \
                      #n);                                                         \
        }                                                                          \
    } while (0)

#endif
