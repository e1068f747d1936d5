/*
 * test_crypto.c: crypto.c against the national standards' vectors and the openssl CLI, and
 * crc32c.c's two implementations against each other.
 *
 * Every expected value below comes from a standard (GB/T 32905 for SM3, GB/T 32907 for SM4)
 * or was produced with the OpenSSL 3.0.19 command line on the development machine; the
 * commands are given next to each value so that anyone can regenerate them.
 */
#include "common.h"
#include "crc32c.h"
#include "crypto.h"
#include "test.h"

#include <dirent.h>
#include <sys/stat.h>

/* Decodes a hex literal of exactly n bytes; a malformed literal is a bug in the test. */
static void unhex(const char *hex, uint8_t *out, size_t n)
{
    ASSERT(jz_hex_decode(hex, strlen(hex), out, n) == 0);
}

/* xorshift64*: reproducible test data from test_seed(). */
static uint64_t rng_next(uint64_t *state)
{
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return *state * 0x2545F4914F6CDD1DULL;
}

static void rng_fill(uint64_t *state, uint8_t *buf, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        buf[i] = (uint8_t)(rng_next(state) >> 56);
    }
}

static uint64_t rng_seed(void)
{
    uint64_t s = test_seed();
    return s != 0 ? s : 1;
}

static void path_in_tmpdir(const char *name, char *out, size_t size)
{
    int n = snprintf(out, size, "%s/%s", test_tmpdir(), name);
    ASSERT(n > 0 && (size_t)n < size);
}

/* ---- SM3 ---- */

TEST(sm3_standard_vectors)
{
    uint8_t expected[CRYPTO_SM3_BYTES];
    uint8_t digest[CRYPTO_SM3_BYTES];
    const char *abcd16 = "abcdabcdabcdabcdabcdabcdabcdabcdabcdabcdabcdabcdabcdabcdabcdabcd";

    /* GB/T 32905-2016, appendix A.1. */
    unhex("66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0", expected, 32);
    CHECK_EQ_INT(crypto_sm3("abc", 3, digest), 0);
    CHECK_EQ_MEM(digest, expected, 32);

    /* GB/T 32905-2016, appendix A.2: "abcd" sixteen times, one full block plus padding. */
    unhex("debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732", expected, 32);
    CHECK_EQ_INT(strlen(abcd16), 64);
    CHECK_EQ_INT(crypto_sm3(abcd16, 64, digest), 0);
    CHECK_EQ_MEM(digest, expected, 32);

    /* printf '' | openssl dgst -sm3 */
    unhex("1ab21d8355cfa17f8e61194831e81a8f22bec8c728fefb747ed035eb5082aa2b", expected, 32);
    CHECK_EQ_INT(crypto_sm3(NULL, 0, digest), 0);
    CHECK_EQ_MEM(digest, expected, 32);
}

TEST(sm3_incremental_matches_oneshot)
{
    static const size_t splits[] = {0, 1, 3, 7, 31, 55, 63, 64, 65, 127, 129, 333, 999, 1000};
    uint64_t rng = rng_seed();
    uint8_t data[1000];
    uint8_t whole[CRYPTO_SM3_BYTES];
    uint8_t parts[CRYPTO_SM3_BYTES];
    crypto_sm3_ctx *ctx = crypto_sm3_new();

    REQUIRE(ctx != NULL);
    rng_fill(&rng, data, sizeof data);
    CHECK_EQ_INT(crypto_sm3(data, sizeof data, whole), 0);
    /* One context reused across every split: init must fully restart it. */
    for (size_t i = 0; i < JZ_ARRAY_LEN(splits); i++) {
        for (size_t j = i; j < JZ_ARRAY_LEN(splits); j++) {
            size_t a = splits[i];
            size_t b = splits[j];
            CHECK_EQ_INT(crypto_sm3_init(ctx), 0);
            CHECK_EQ_INT(crypto_sm3_update(ctx, data, a), 0);
            CHECK_EQ_INT(crypto_sm3_update(ctx, data + a, b - a), 0);
            CHECK_EQ_INT(crypto_sm3_update(ctx, data + b, sizeof data - b), 0);
            CHECK_EQ_INT(crypto_sm3_final(ctx, parts), 0);
            CHECK_EQ_MEM(parts, whole, sizeof whole);
        }
    }
    /* Byte by byte. */
    CHECK_EQ_INT(crypto_sm3_init(ctx), 0);
    for (size_t i = 0; i < sizeof data; i++) {
        CHECK_EQ_INT(crypto_sm3_update(ctx, data + i, 1), 0);
    }
    CHECK_EQ_INT(crypto_sm3_final(ctx, parts), 0);
    CHECK_EQ_MEM(parts, whole, sizeof whole);
    crypto_sm3_free(ctx);
    crypto_sm3_free(NULL);
}

TEST(sm3_new_context_is_ready)
{
    uint8_t expected[CRYPTO_SM3_BYTES];
    uint8_t digest[CRYPTO_SM3_BYTES];
    crypto_sm3_ctx *ctx = crypto_sm3_new();

    REQUIRE(ctx != NULL);
    unhex("66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0", expected, 32);
    CHECK_EQ_INT(crypto_sm3_update(ctx, "ab", 2), 0);
    CHECK_EQ_INT(crypto_sm3_update(ctx, "c", 1), 0);
    CHECK_EQ_INT(crypto_sm3_final(ctx, digest), 0);
    CHECK_EQ_MEM(digest, expected, 32);
    crypto_sm3_free(ctx);
}

/* ---- HMAC-SM3 ---- */

TEST(hmac_sm3_vectors)
{
    uint8_t key[100];
    uint8_t expected[CRYPTO_SM3_BYTES];
    uint8_t mac[CRYPTO_SM3_BYTES];
    const char *fox = "The quick brown fox jumps over the lazy dog";
    const char *big = "Test Using Larger Than Block-Size Key - Hash Key First";

    /* printf 'The quick brown fox jumps over the lazy dog' |
     *     openssl dgst -sm3 -hmac 'jiaozi-hmac-key'
     * (the same value from openssl mac -digest SM3 -macopt hexkey:6a69616f... HMAC). */
    unhex("a1e86617e415b581b3e9c893debe8306d758d2a1c4f425afde5d782a06774016", expected, 32);
    CHECK_EQ_INT(crypto_hmac_sm3("jiaozi-hmac-key", 15, fox, strlen(fox), mac), 0);
    CHECK_EQ_MEM(mac, expected, 32);

    /* A key longer than SM3's 64-byte block is hashed first:
     * printf '%s' "$big" | openssl mac -digest SM3 -macopt hexkey:$(aa x 100) HMAC */
    memset(key, 0xaa, sizeof key);
    unhex("ddfd727df11b435760f1fa6638e2c059a66a74da8432815201915246e6211294", expected, 32);
    CHECK_EQ_INT(crypto_hmac_sm3(key, sizeof key, big, strlen(big), mac), 0);
    CHECK_EQ_MEM(mac, expected, 32);

    /* Empty key and empty message: printf '' | openssl mac -digest SM3 -macopt key: HMAC */
    unhex("0d23f72ba15e9c189a879aefc70996b06091de6e64d31b7a84004356dd915261", expected, 32);
    CHECK_EQ_INT(crypto_hmac_sm3(NULL, 0, NULL, 0, mac), 0);
    CHECK_EQ_MEM(mac, expected, 32);

    /* Empty key: printf 'abc' | openssl dgst -sm3 -hmac '' */
    unhex("36525058ca466791502435c910517f1a7e86613d5f35ac1f18a94def0eaac81f", expected, 32);
    CHECK_EQ_INT(crypto_hmac_sm3("", 0, "abc", 3, mac), 0);
    CHECK_EQ_MEM(mac, expected, 32);
}

/* ---- SM4 ---- */

TEST(sm4_standard_vectors)
{
    uint8_t key[16];
    uint8_t block[16];
    uint8_t expected[16];

    /* GB/T 32907-2016, appendix A, example 1: key = plaintext. */
    unhex("0123456789abcdeffedcba9876543210", key, 16);
    memcpy(block, key, 16);
    unhex("681edf34d206965e86b3e94f536e4246", expected, 16);
    CHECK_EQ_INT(crypto_sm4_encrypt_block(key, block, block), 0);
    CHECK_EQ_MEM(block, expected, 16);

    /* Example 2: the same plaintext encrypted 1,000,000 times under the same key. */
    memcpy(block, key, 16);
    int failures = 0;
    for (int i = 0; i < 1000000; i++) {
        failures += crypto_sm4_encrypt_block(key, block, block) != 0;
    }
    CHECK_EQ_INT(failures, 0);
    unhex("595298c7c6fd271f0402f804c33d3f66", expected, 16);
    CHECK_EQ_MEM(block, expected, 16);
}

TEST(sm4_ctr_round_trip)
{
    uint64_t rng = rng_seed();
    uint8_t key[16];
    uint8_t iv[16];
    uint8_t plain[1000];
    uint8_t buf[1000];
    uint8_t other[1000];

    rng_fill(&rng, key, sizeof key);
    rng_fill(&rng, iv, sizeof iv);
    rng_fill(&rng, plain, sizeof plain);
    /* 1000 is not a multiple of the block size: the last keystream block is cut short. */
    CHECK_EQ_INT(crypto_sm4_ctr(key, iv, plain, sizeof plain, buf), 0);
    CHECK(memcmp(buf, plain, sizeof plain) != 0);
    /* Decrypting in place (in == out) gives the plaintext back. */
    CHECK_EQ_INT(crypto_sm4_ctr(key, iv, buf, sizeof buf, buf), 0);
    CHECK_EQ_MEM(buf, plain, sizeof plain);
    /* A prefix encrypts to the prefix of the ciphertext. */
    CHECK_EQ_INT(crypto_sm4_ctr(key, iv, plain, sizeof plain, buf), 0);
    CHECK_EQ_INT(crypto_sm4_ctr(key, iv, plain, 37, other), 0);
    CHECK_EQ_MEM(other, buf, 37);
    /* Another iv gives another keystream. */
    iv[15] ^= 1;
    CHECK_EQ_INT(crypto_sm4_ctr(key, iv, plain, sizeof plain, other), 0);
    CHECK(memcmp(other, buf, sizeof buf) != 0);
    CHECK_EQ_INT(crypto_sm4_ctr(key, iv, NULL, 0, NULL), 0);
}

/* Adds one to a 16-byte big-endian counter block. */
static void counter_increment(uint8_t ctr[16])
{
    for (int i = 15; i >= 0; i--) {
        ctr[i]++;
        if (ctr[i] != 0) {
            return;
        }
    }
}

TEST(sm4_ctr_keystream_is_encrypted_counter)
{
    enum { BLOCKS = 5 };
    uint8_t key[16];
    uint8_t iv[16];
    uint8_t ctr[16];
    uint8_t zeros[BLOCKS * 16] = {0};
    uint8_t stream[BLOCKS * 16];
    uint8_t expected[BLOCKS * 16];

    unhex("0123456789abcdeffedcba9876543210", key, 16);
    /* The low 64 bits start just below wrapping, so the carry into the high half is seen. */
    unhex("00112233445566fffffffffffffffffe", iv, 16);
    memcpy(ctr, iv, 16);
    for (int i = 0; i < BLOCKS; i++) {
        CHECK_EQ_INT(crypto_sm4_encrypt_block(key, ctr, expected + 16 * i), 0);
        counter_increment(ctr);
    }
    CHECK_EQ_INT(crypto_sm4_ctr(key, iv, zeros, sizeof zeros, stream), 0);
    CHECK_EQ_MEM(stream, expected, sizeof expected);
}

/* ---- Randomness and memory ---- */

TEST(crypto_random_wipe_memcmp)
{
    uint8_t a[64] = {0};
    uint8_t b[64] = {0};
    uint8_t zero[64] = {0};

    CHECK_EQ_INT(crypto_random(a, sizeof a), 0);
    CHECK_EQ_INT(crypto_random(b, sizeof b), 0);
    CHECK(memcmp(a, b, sizeof a) != 0);
    CHECK(memcmp(a, zero, sizeof a) != 0);
    CHECK_EQ_INT(crypto_random(NULL, 0), 0);

    CHECK_EQ_INT(crypto_memcmp(a, a, sizeof a), 0);
    CHECK(crypto_memcmp(a, b, sizeof a) != 0);
    memcpy(b, a, sizeof a);
    b[63] ^= 0x80;
    CHECK(crypto_memcmp(a, b, sizeof a) != 0);
    CHECK_EQ_INT(crypto_memcmp(a, b, 63), 0);
    CHECK_EQ_INT(crypto_memcmp(a, b, 0), 0);

    crypto_wipe(a, sizeof a);
    CHECK_EQ_MEM(a, zero, sizeof a);
    crypto_wipe(NULL, 0);
}

/* ---- SM2 ---- */

TEST(sm2_sign_verify)
{
    crypto_sm2_key *key = NULL;
    crypto_sm2_key *other = NULL;
    uint8_t msg[] = "transfer 100 fen from wallet a to wallet b";
    uint8_t sig[CRYPTO_SM2_SIG_MAX];
    uint8_t sig2[CRYPTO_SM2_SIG_MAX];
    size_t sig_len = 0;
    size_t sig2_len = 0;

    REQUIRE_EQ_INT(crypto_sm2_generate(&key), 0);
    REQUIRE_EQ_INT(crypto_sm2_generate(&other), 0);
    CHECK_EQ_INT(crypto_sm2_sign(key, msg, sizeof msg, sig, &sig_len), 0);
    CHECK(sig_len >= 8 && sig_len <= 72);
    CHECK_EQ_INT(crypto_sm2_verify(key, msg, sizeof msg, sig, sig_len), 0);
    /* SM2 is randomised: a second signature differs and verifies too. */
    CHECK_EQ_INT(crypto_sm2_sign(key, msg, sizeof msg, sig2, &sig2_len), 0);
    CHECK(sig2_len != sig_len || memcmp(sig, sig2, sig_len) != 0);
    CHECK_EQ_INT(crypto_sm2_verify(key, msg, sizeof msg, sig2, sig2_len), 0);

    msg[5] ^= 1;
    CHECK_EQ_INT(crypto_sm2_verify(key, msg, sizeof msg, sig, sig_len), -1);
    msg[5] ^= 1;
    for (size_t i = 0; i < sig_len; i++) {
        sig[i] ^= 0x01;
        CHECK_EQ_INT(crypto_sm2_verify(key, msg, sizeof msg, sig, sig_len), -1);
        sig[i] ^= 0x01;
    }
    CHECK_EQ_INT(crypto_sm2_verify(key, msg, sizeof msg, sig, sig_len - 1), -1);
    CHECK_EQ_INT(crypto_sm2_verify(key, msg, sizeof msg, sig, 0), -1);
    CHECK_EQ_INT(crypto_sm2_verify(other, msg, sizeof msg, sig, sig_len), -1);
    CHECK_EQ_INT(crypto_sm2_verify(key, msg, sizeof msg, sig, sig_len), 0);

    /* The empty message is a message like any other. */
    CHECK_EQ_INT(crypto_sm2_sign(key, NULL, 0, sig, &sig_len), 0);
    CHECK_EQ_INT(crypto_sm2_verify(key, "", 0, sig, sig_len), 0);
    CHECK_EQ_INT(crypto_sm2_verify(key, "x", 1, sig, sig_len), -1);
    crypto_sm2_free(key);
    crypto_sm2_free(other);
    crypto_sm2_free(NULL);
}

static int count_dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;

    if (d == NULL) {
        return -1;
    }
    for (struct dirent *e = readdir(d); e != NULL; e = readdir(d)) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            n++;
        }
    }
    closedir(d);
    return n;
}

TEST(sm2_private_key_file_round_trip)
{
    crypto_sm2_key *key = NULL;
    crypto_sm2_key *loaded = NULL;
    char path[512];
    char *pem_a = NULL;
    char *pem_b = NULL;
    size_t len_a = 0;
    size_t len_b = 0;
    uint8_t sig[CRYPTO_SM2_SIG_MAX];
    size_t sig_len = 0;
    struct stat st;

    path_in_tmpdir("node.key", path, sizeof path);
    REQUIRE_EQ_INT(crypto_sm2_generate(&key), 0);
    CHECK_EQ_INT(crypto_sm2_save_private(key, path), 0);
    REQUIRE_EQ_INT(stat(path, &st), 0);
    CHECK(S_ISREG(st.st_mode));
    CHECK_EQ_INT(st.st_mode & 07777, 0600);
    /* No temporary file is left behind, and an existing key is never overwritten. */
    CHECK_EQ_INT(count_dir_entries(test_tmpdir()), 1);
    CHECK_EQ_INT(crypto_sm2_save_private(key, path), -1);
    CHECK_EQ_INT(count_dir_entries(test_tmpdir()), 1);

    REQUIRE_EQ_INT(crypto_sm2_load_private(path, &loaded), 0);
    CHECK_EQ_INT(crypto_sm2_public_pem(key, &pem_a, &len_a), 0);
    CHECK_EQ_INT(crypto_sm2_public_pem(loaded, &pem_b, &len_b), 0);
    CHECK_EQ_INT(len_a, len_b);
    CHECK_EQ_STR(pem_a, pem_b);
    CHECK_EQ_INT(crypto_sm2_sign(loaded, "m", 1, sig, &sig_len), 0);
    CHECK_EQ_INT(crypto_sm2_verify(key, "m", 1, sig, sig_len), 0);

    CHECK_EQ_INT(crypto_sm2_load_private("/nonexistent/jiaozi/node.key", &loaded), -1);
    path_in_tmpdir("no/such/dir.key", path, sizeof path);
    CHECK_EQ_INT(crypto_sm2_save_private(key, path), -1);
    free(pem_a);
    free(pem_b);
    crypto_sm2_free(key);
    crypto_sm2_free(loaded);
}

TEST(sm2_public_pem_round_trip)
{
    crypto_sm2_key *key = NULL;
    crypto_sm2_key *pub = NULL;
    char *pem = NULL;
    char *pem2 = NULL;
    size_t pem_len = 0;
    size_t pem2_len = 0;
    uint8_t sig[CRYPTO_SM2_SIG_MAX];
    size_t sig_len = 0;
    char path[512];

    REQUIRE_EQ_INT(crypto_sm2_generate(&key), 0);
    REQUIRE_EQ_INT(crypto_sm2_public_pem(key, &pem, &pem_len), 0);
    CHECK_EQ_INT(strlen(pem), pem_len);
    CHECK(strncmp(pem, "-----BEGIN PUBLIC KEY-----\n", 27) == 0);
    REQUIRE_EQ_INT(crypto_sm2_load_public_pem(pem, pem_len, &pub), 0);
    CHECK_EQ_INT(crypto_sm2_public_pem(pub, &pem2, &pem2_len), 0);
    CHECK_EQ_STR(pem, pem2);

    CHECK_EQ_INT(crypto_sm2_sign(key, "hello", 5, sig, &sig_len), 0);
    CHECK_EQ_INT(crypto_sm2_verify(pub, "hello", 5, sig, sig_len), 0);
    CHECK_EQ_INT(crypto_sm2_verify(pub, "hellp", 5, sig, sig_len), -1);
    /* A public key can neither sign nor be saved as a private key. */
    sig_len = 0;
    CHECK_EQ_INT(crypto_sm2_sign(pub, "hello", 5, sig, &sig_len), -1);
    CHECK_EQ_INT(sig_len, 0);
    path_in_tmpdir("pub.key", path, sizeof path);
    CHECK_EQ_INT(crypto_sm2_save_private(pub, path), -1);
    CHECK_EQ_INT(count_dir_entries(test_tmpdir()), 0);
    /* A truncated PEM is refused. */
    CHECK_EQ_INT(crypto_sm2_load_public_pem(pem, pem_len / 2, &pub), -1);
    free(pem);
    free(pem2);
    crypto_sm2_free(key);
    crypto_sm2_free(pub);
}

/* openssl ecparam -name prime256v1 -genkey -noout -out p256.pem
 * openssl ec -in p256.pem -pubout; openssl pkcs8 -topk8 -nocrypt -in p256.pem */
static const char p256_public_pem[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEkmLvgmpptIde2JD1SkbFSXzh1W8l\n"
    "wYK/DEqJJJU/k/dnJgGpEnbUvsDkBeCMaJ/h4mkL05diYj64LmsGh7jKsA==\n"
    "-----END PUBLIC KEY-----\n";
static const char p256_private_pem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgEOs2hMeDXZLWZSs4\n"
    "75Nrrqsc1tHzePsS2F5lwV7X1hyhRANCAASSYu+Camm0h17YkPVKRsVJfOHVbyXB\n"
    "gr8MSokklT+T92cmAakSdtS+wOQF4Ixon+HiaQvTl2JiPrguawaHuMqw\n"
    "-----END PRIVATE KEY-----\n";

static int write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    int rc;

    if (f == NULL) {
        return -1;
    }
    rc = fputs(text, f) < 0 ? -1 : 0;
    return fclose(f) == 0 ? rc : -1;
}

TEST(sm2_refuses_other_keys)
{
    crypto_sm2_key *key = NULL;
    char path[512];
    const char *junk = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";

    CHECK_EQ_INT(crypto_sm2_load_public_pem(p256_public_pem, strlen(p256_public_pem), &key), -1);
    CHECK(key == NULL);
    CHECK_EQ_INT(crypto_sm2_load_public_pem(junk, strlen(junk), &key), -1);
    CHECK_EQ_INT(crypto_sm2_load_public_pem("", 0, &key), -1);
    CHECK(key == NULL);

    path_in_tmpdir("p256.key", path, sizeof path);
    REQUIRE_EQ_INT(write_file(path, p256_private_pem), 0);
    CHECK_EQ_INT(crypto_sm2_load_private(path, &key), -1);
    /* A public key where a private key is expected. */
    path_in_tmpdir("public.pem", path, sizeof path);
    REQUIRE_EQ_INT(write_file(path, p256_public_pem), 0);
    CHECK_EQ_INT(crypto_sm2_load_private(path, &key), -1);
    CHECK(key == NULL);
}

/* Interoperability with the openssl CLI, generated on the development machine with:
 *   openssl genpkey -algorithm SM2 -out sm2.pem
 *   openssl pkey -in sm2.pem -pubout -out sm2pub.pem
 *   printf 'jiaozi interop: transfer 100 fen' > msg.txt
 *   openssl pkeyutl -sign -in msg.txt -inkey sm2.pem -rawin -digest sm3 \
 *       -pkeyopt distid:1234567812345678 -out sig.der           (interop_sig_hex)
 *   openssl pkeyutl -sign -in msg.txt -inkey sm2.pem -rawin -digest sm3 \
 *       -out sig_empty_id.der                                     (interop_sig_empty_id_hex)
 * The second uses OpenSSL 3.0's default, an empty signer id, which must not verify. */
static const char interop_private_pem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqBHM9VAYItBG0wawIBAQQg9YcXA+5ayVTDDM1Z\n"
    "8RraDF8S5hqFJW05FJ7weeHFkOOhRANCAATffw2DqIzhi1nntkXsOKkNxohidYLI\n"
    "kte7R+t/8/onpX2BwYQaKcXHANxiX+uyZaolDty9vMWpXhXMI3z+ZgG5\n"
    "-----END PRIVATE KEY-----\n";
static const char interop_public_pem[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoEcz1UBgi0DQgAE338Ng6iM4YtZ57ZF7DipDcaIYnWC\n"
    "yJLXu0frf/P6J6V9gcGEGinFxwDcYl/rsmWqJQ7cvbzFqV4VzCN8/mYBuQ==\n"
    "-----END PUBLIC KEY-----\n";
static const char interop_msg[] = "jiaozi interop: transfer 100 fen";
static const char interop_sig_hex[] =
    "304402207b196e0d856dd8f5c0b401127aad557dbcc9d12384659e4b3f6448d422de5f03"
    "02202dcfec72b091d24d0af7fae3aa2628cfbfc5e7d2bb9502326fb631a96206a519";
static const char interop_sig_empty_id_hex[] =
    "3045022063360de4a4f224eb097509fdb55f4169c5e539289371c9f309c5abbf2c07f786"
    "022100b452f04d1fdf93449f0a0ccfc41e1d6c7bef57e20c5a2e05e084d85002f38717";

TEST(sm2_interop_with_openssl_cli)
{
    crypto_sm2_key *pub = NULL;
    crypto_sm2_key *priv = NULL;
    uint8_t sig[CRYPTO_SM2_SIG_MAX];
    size_t sig_len = strlen(interop_sig_hex) / 2;
    size_t msg_len = strlen(interop_msg);
    char *pem = NULL;
    size_t pem_len = 0;
    char path[512];

    REQUIRE_EQ_INT(crypto_sm2_load_public_pem(interop_public_pem, strlen(interop_public_pem), &pub),
                   0);
    unhex(interop_sig_hex, sig, sig_len);
    CHECK_EQ_INT(crypto_sm2_verify(pub, interop_msg, msg_len, sig, sig_len), 0);
    CHECK_EQ_INT(crypto_sm2_verify(pub, interop_msg, msg_len - 1, sig, sig_len), -1);

    sig_len = strlen(interop_sig_empty_id_hex) / 2;
    unhex(interop_sig_empty_id_hex, sig, sig_len);
    CHECK_EQ_INT(crypto_sm2_verify(pub, interop_msg, msg_len, sig, sig_len), -1);

    /* The CLI's private key loads, matches its public key, and signs what the public key
     * accepts. */
    path_in_tmpdir("sm2.pem", path, sizeof path);
    REQUIRE_EQ_INT(write_file(path, interop_private_pem), 0);
    REQUIRE_EQ_INT(crypto_sm2_load_private(path, &priv), 0);
    CHECK_EQ_INT(crypto_sm2_public_pem(priv, &pem, &pem_len), 0);
    CHECK_EQ_STR(pem, interop_public_pem);
    CHECK_EQ_INT(crypto_sm2_sign(priv, interop_msg, msg_len, sig, &sig_len), 0);
    CHECK_EQ_INT(crypto_sm2_verify(pub, interop_msg, msg_len, sig, sig_len), 0);
    free(pem);
    crypto_sm2_free(pub);
    crypto_sm2_free(priv);
}

/* ---- CRC-32C ---- */

TEST(crc32c_check_value)
{
    CHECK_EQ_INT(crc32c(0, "123456789", 9), 0xE3069283);
    CHECK_EQ_INT(crc32c_portable(0, "123456789", 9), 0xE3069283);
    CHECK_EQ_INT(crc32c(0, NULL, 0), 0);
    CHECK_EQ_INT(crc32c_portable(0, NULL, 0), 0);
    /* RFC 3720 (iSCSI), B.4: 32 bytes of zeros. */
    static const uint8_t zeros[32];
    CHECK_EQ_INT(crc32c(0, zeros, sizeof zeros), 0x8A9136AA);
    CHECK_EQ_INT(crc32c_portable(0, zeros, sizeof zeros), 0x8A9136AA);
}

TEST(crc32c_continuation)
{
    uint64_t rng = rng_seed();
    uint8_t data[300];

    rng_fill(&rng, data, sizeof data);
    uint32_t whole = crc32c(0, data, sizeof data);
    CHECK_EQ_INT(crc32c_portable(0, data, sizeof data), whole);
    for (size_t n = 0; n <= sizeof data; n++) {
        uint32_t first = crc32c(0, data, n);
        CHECK_EQ_INT(crc32c(first, data + n, sizeof data - n), whole);
        first = crc32c_portable(0, data, n);
        CHECK_EQ_INT(crc32c_portable(first, data + n, sizeof data - n), whole);
    }
    CHECK_EQ_INT(crc32c(crc32c(0, "1234", 4), "56789", 5), 0xE3069283);
}

TEST(crc32c_hardware_matches_portable)
{
    uint64_t rng = rng_seed();
    uint8_t buf[1000 + 16];
    int mismatches = 0;

    for (size_t len = 0; len <= 1000; len++) {
        for (size_t start = 0; start < 8; start++) {
            rng_fill(&rng, buf + start, len);
            uint32_t seed = (uint32_t)rng_next(&rng);
            if (crc32c(0, buf + start, len) != crc32c_portable(0, buf + start, len) ||
                crc32c(seed, buf + start, len) != crc32c_portable(seed, buf + start, len)) {
                mismatches++;
            }
        }
    }
    CHECK_EQ_INT(mismatches, 0);
}

TEST(seal_round_trip_and_tamper)
{
    uint8_t key[CRYPTO_SEAL_KEY_BYTES];
    uint8_t other[CRYPTO_SEAL_KEY_BYTES];
    uint8_t secret[32];
    uint8_t sealed[32 + CRYPTO_SEAL_OVERHEAD];
    uint8_t back[32];
    REQUIRE(crypto_random(key, sizeof key) == 0);
    REQUIRE(crypto_random(other, sizeof other) == 0);
    REQUIRE(crypto_random(secret, sizeof secret) == 0);
    REQUIRE(crypto_seal(key, "kid", 3, secret, sizeof secret, sealed) == 0);
    CHECK(memcmp(sealed + 16, secret, sizeof secret) != 0); /* not in clear */
    REQUIRE(crypto_unseal(key, "kid", 3, sealed, sizeof sealed, back) == 0);
    CHECK_EQ_MEM(back, secret, sizeof secret);
    CHECK(crypto_unseal(other, "kid", 3, sealed, sizeof sealed, back) != 0);
    CHECK(crypto_unseal(key, "kie", 3, sealed, sizeof sealed, back) != 0);
    for (size_t i = 0; i < sizeof sealed; i++) {
        sealed[i] ^= 0x01;
        CHECK(crypto_unseal(key, "kid", 3, sealed, sizeof sealed, back) != 0);
        sealed[i] ^= 0x01;
    }
    CHECK(crypto_unseal(key, "kid", 3, sealed, CRYPTO_SEAL_OVERHEAD - 1, back) != 0);
}
