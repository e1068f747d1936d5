/*
 * embed.c: turns a file into a C source defining `const char NAME[]` (NUL-terminated) and
 * `const size_t NAME_len`, so the server ships documents (the OpenAPI file, the console)
 * inside its binary. Usage: embed NAME INPUT OUTPUT.c
 */
#include <stdio.h>

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: embed NAME INPUT OUTPUT.c\n");
        return 2;
    }
    FILE *in = fopen(argv[2], "rb");
    FILE *out = fopen(argv[3], "w");
    if (!in || !out) {
        perror("embed");
        return 1;
    }
    fprintf(out, "#include <stddef.h>\nconst char %s[] = {\n", argv[1]);
    size_t n = 0;
    int c;
    while ((c = fgetc(in)) != EOF) {
        fprintf(out, "%d,%s", c, ++n % 24 == 0 ? "\n" : "");
    }
    fprintf(out, "0};\nconst size_t %s_len = %zu;\n", argv[1], n);
    int rc = ferror(in) || fclose(out) != 0 ? 1 : 0;
    fclose(in);
    return rc;
}
