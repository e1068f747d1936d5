/*
 * cli_clearing.h: the parts of `jiaozi clearing` (cli_clearing.c) that live in their own file.
 */
#ifndef JZ_CLI_CLEARING_H
#define JZ_CLI_CLEARING_H

/* `jiaozi clearing bench ...` (argv after "bench"). */
int cli_clearing_bench(int argc, char **argv);

#endif
