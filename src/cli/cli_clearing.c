/*
 * cli_clearing.c: `jiaozi clearing ...`.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cli_clearing.h"

int cli_clearing(int argc, char **argv)
{
    if (argc >= 1 && strcmp(argv[0], "bench") == 0) {
        return cli_clearing_bench(argc - 1, argv + 1);
    }
    fprintf(stderr, "usage: jiaozi clearing bench\n");
    return 2;
}
