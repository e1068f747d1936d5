/*
 * cli_util.c: option parsing shared by the subcommands.
 */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *cli_opt(int argc, char **argv, const char *name)
{
    for (int i = 0; i + 1 < argc; i++) {
        if (strcmp(argv[i], name) == 0) {
            return argv[i + 1];
        }
    }
    return NULL;
}

bool cli_flag(int argc, char **argv, const char *name)
{
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], name) == 0) {
            return true;
        }
    }
    return false;
}

uint64_t cli_opt_u64(int argc, char **argv, const char *name, uint64_t def, uint64_t max)
{
    const char *v = cli_opt(argc, argv, name);
    if (!v) {
        return def;
    }
    char *end = NULL;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || v[0] == '-' || n > max) {
        fprintf(stderr, "jiaozi: %s takes a whole number from 0 to %llu, not \"%s\"\n", name,
                (unsigned long long)max, v);
        exit(2);
    }
    return n;
}

static bool in_list(const char *s, const char *const *list)
{
    for (; list && *list; list++) {
        if (strcmp(s, *list) == 0) {
            return true;
        }
    }
    return false;
}

int cli_check_options(int argc, char **argv, const char *const *known, const char *const *flags)
{
    for (int i = 0; i < argc; i++) {
        if (in_list(argv[i], flags)) {
            continue;
        }
        if (in_list(argv[i], known)) {
            if (i + 1 >= argc) {
                fprintf(stderr, "jiaozi: %s needs a value\n", argv[i]);
                return -1;
            }
            i++;
            continue;
        }
        fprintf(stderr, "jiaozi: unknown option \"%s\" (see --help)\n", argv[i]);
        return -1;
    }
    return 0;
}
