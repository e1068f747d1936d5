/*
 * test_main.c: the runner behind tests/test.h. Tests run in registration order (file by
 * file), each with its own temporary directory. Closing line: "N passed, N failed".
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "test.h"

#include <ftw.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TESTS_MAX 1024

struct test_entry {
    const char *name;
    const char *file;
    test_fn fn;
};

static struct test_entry tests[TESTS_MAX];
static int tests_count;
static int current_failures;
static long current_checks;
static char current_tmpdir[256];
static int saved_argc;
static char **saved_argv;
static uint64_t seed_value;
static bool seed_printed;

void test_register(const char *name, const char *file, test_fn fn)
{
    if (tests_count == TESTS_MAX) {
        fprintf(stderr, "test runner: more than %d tests\n", TESTS_MAX);
        exit(2);
    }
    tests[tests_count].name = name;
    tests[tests_count].file = file;
    tests[tests_count].fn = fn;
    tests_count++;
}

void test_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    if (current_failures < 20) {
        fprintf(stderr, "  FAIL %s:%d: ", file, line);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
    }
    current_failures++;
}

void test_count_check(void)
{
    current_checks++;
}

bool test_failed(void)
{
    return current_failures > 0;
}

long test_opt_long(const char *name, long def)
{
    for (int i = 1; i + 1 < saved_argc; i++) {
        if (strcmp(saved_argv[i], name) == 0) {
            return strtol(saved_argv[i + 1], NULL, 10);
        }
    }
    return def;
}

uint64_t test_seed(void)
{
    if (!seed_printed) {
        long s = test_opt_long("--seed", 0);
        seed_value = s ? (uint64_t)s : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
        seed_printed = true;
    }
    return seed_value;
}

const char *test_tmpdir(void)
{
    if (current_tmpdir[0] == '\0') {
        const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
        snprintf(current_tmpdir, sizeof current_tmpdir, "%s/jz_test_XXXXXX", base);
        if (mkdtemp(current_tmpdir) == NULL) {
            perror("mkdtemp");
            exit(2);
        }
    }
    return current_tmpdir;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static bool is_option_with_value(const char *arg)
{
    return strncmp(arg, "--", 2) == 0;
}

static bool selected(const char *name)
{
    bool any_filter = false;
    for (int i = 1; i < saved_argc; i++) {
        if (is_option_with_value(saved_argv[i])) {
            i++;
            continue;
        }
        any_filter = true;
        if (strstr(name, saved_argv[i]) != NULL) {
            return true;
        }
    }
    return !any_filter;
}

int main(int argc, char **argv)
{
    int passed = 0;
    int failed = 0;
    saved_argc = argc;
    saved_argv = argv;
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (int i = 0; i < tests_count; i++) {
        if (!selected(tests[i].name)) {
            continue;
        }
        current_failures = 0;
        current_checks = 0;
        current_tmpdir[0] = '\0';
        seed_printed = false;
        time_t start = time(NULL);
        tests[i].fn();
        if (current_checks == 0) {
            test_fail(tests[i].file, 0, "test made no checks");
        }
        if (current_failures == 0) {
            passed++;
            printf("ok   %s (%lds)\n", tests[i].name, (long)(time(NULL) - start));
            if (current_tmpdir[0] != '\0') {
                nftw(current_tmpdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
            }
        } else {
            failed++;
            printf("FAIL %s (%d failures)", tests[i].name, current_failures);
            if (seed_printed) {
                printf(" seed=%" PRIu64, seed_value);
            }
            if (current_tmpdir[0] != '\0') {
                printf(" tmpdir=%s", current_tmpdir);
            }
            printf("\n");
        }
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
