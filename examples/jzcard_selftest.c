/*
 * jzcard_selftest.c: a program linked with nothing of jiaozi but build/libjzcard.a (and
 * OpenSSL): it makes a blank card in DIR, reopens it and prints its id and public
 * key, proving the secure-element emulator stands without the server.
 *   usage: jzcard_selftest DIR
 */
#include <stdio.h>
#include <stdlib.h>

#include "jzcard.h"

int main(int argc, char **argv)
{
    char path[4096];
    jzcard *c = NULL;
    struct jzcard_info info;
    char id[33];
    char *pem = NULL;
    size_t len = 0;
    if (argc != 2) {
        fprintf(stderr, "usage: jzcard_selftest DIR\n");
        return 2;
    }
    snprintf(path, sizeof path, "%s/selftest.card", argv[1]);
    int rc = jzcard_create(path, &c);
    jzcard_close(c);
    if (rc == JZCARD_OK) {
        rc = jzcard_open(path, &c);
    }
    if (rc != JZCARD_OK || jzcard_public_pem(c, &pem, &len) != JZCARD_OK) {
        fprintf(stderr, "jzcard_selftest: %s\n", jzcard_strerror(rc));
        jzcard_close(c);
        return 1;
    }
    jzcard_get_info(c, &info);
    jz_id_to_hex(&info.card, id);
    printf("card %s blank\n%s", id, pem);
    free(pem);
    jzcard_close(c);
    return 0;
}
