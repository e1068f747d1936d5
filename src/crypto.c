/*
 * crypto.c: SM2, SM3, SM4, HMAC-SM3 and randomness through OpenSSL 3 EVP.
 *
 * The only file that includes OpenSSL headers. Every OpenSSL failure is translated here into
 * -1, and the OpenSSL error queue is cleared so a stale error cannot surface later in an
 * unrelated call. Algorithms are fetched from the default provider once (fetching by name on
 * every call costs a method-store lookup and a lock), and the fetched objects live until exit.
 */
#include "crypto.h"

#include "common.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Under -Isrc, <limits.h> finds jiaozi's src/limits.h instead of the system header, and
 * OpenSSL's err.h needs INT_MAX from it. Supply the compiler's value until the build passes
 * src with -iquote (or the header is renamed); the real header would redefine it anyway. */
#ifndef INT_MAX
#define INT_MAX __INT_MAX__
#endif

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

/* EVP length arguments are int; bulk data goes through in chunks no larger than this. */
#define CRYPTO_CHUNK_MAX (1 << 30)
/* A PKCS#8 PEM SM2 private key is about 250 bytes and a public key PEM about 180; anything
 * much larger is not one of ours, and bounding it keeps a bad file from being slurped whole. */
#define CRYPTO_PEM_MAX 8192
#define CRYPTO_SM2_ID_LEN (sizeof CRYPTO_SM2_ID - 1)
/* Longest key path accepted (Linux's PATH_MAX, whose header src/limits.h shadows). */
#define CRYPTO_PATH_MAX 4096

struct crypto_sm3_ctx {
    EVP_MD_CTX *md_ctx;
};

struct crypto_sm2_key {
    EVP_PKEY *pkey;
};

/* Algorithms fetched once; all NULL if any fetch failed (then every user returns -1). */
static struct {
    EVP_MD *sm3;
    EVP_CIPHER *sm4_ecb;
    EVP_CIPHER *sm4_ctr;
    EVP_MAC *hmac;
} algs;
static CRYPTO_ONCE algs_once = CRYPTO_ONCE_STATIC_INIT;
static bool algs_ok;

static void algs_fetch(void)
{
    algs.sm3 = EVP_MD_fetch(NULL, "SM3", NULL);
    algs.sm4_ecb = EVP_CIPHER_fetch(NULL, "SM4-ECB", NULL);
    algs.sm4_ctr = EVP_CIPHER_fetch(NULL, "SM4-CTR", NULL);
    algs.hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    algs_ok = algs.sm3 && algs.sm4_ecb && algs.sm4_ctr && algs.hmac;
    if (!algs_ok) {
        EVP_MD_free(algs.sm3);
        EVP_CIPHER_free(algs.sm4_ecb);
        EVP_CIPHER_free(algs.sm4_ctr);
        EVP_MAC_free(algs.hmac);
        memset(&algs, 0, sizeof algs);
        ERR_clear_error();
    }
}

static bool algs_ready(void)
{
    return CRYPTO_THREAD_run_once(&algs_once, algs_fetch) && algs_ok;
}

/* The one exit for OpenSSL failures: drop the queued errors so they cannot be mistaken for
 * the cause of a later failure, and report -1. */
static int ossl_fail(void)
{
    ERR_clear_error();
    return -1;
}

/* ---- SM3 ---- */

/* One-shot hashing and MACs run on every API request: each thread keeps its contexts
 * (creating OpenSSL 3 contexts costs more than hashing a request), freed when the thread
 * exits through a pthread key's destructor. */
struct thread_ctx {
    crypto_sm3_ctx *sm3;
    EVP_MAC_CTX *hmac;
};

static pthread_key_t thread_ctx_key;
static pthread_once_t thread_ctx_once = PTHREAD_ONCE_INIT;

static void thread_ctx_free(void *p)
{
    struct thread_ctx *t = p;
    crypto_sm3_free(t->sm3);
    EVP_MAC_CTX_free(t->hmac);
    free(t);
}

static void thread_ctx_key_make(void)
{
    ASSERT(pthread_key_create(&thread_ctx_key, thread_ctx_free) == 0);
}

static struct thread_ctx *thread_ctx(void)
{
    pthread_once(&thread_ctx_once, thread_ctx_key_make);
    struct thread_ctx *t = pthread_getspecific(thread_ctx_key);
    if (t == NULL) {
        t = calloc(1, sizeof *t);
        if (t != NULL && pthread_setspecific(thread_ctx_key, t) != 0) {
            free(t);
            t = NULL;
        }
    }
    return t;
}

int crypto_sm3(const void *data, size_t len, uint8_t out[CRYPTO_SM3_BYTES])
{
    uint8_t digest[CRYPTO_SM3_BYTES];
    struct thread_ctx *t = thread_ctx();
    if (t == NULL) {
        return -1;
    }
    if (t->sm3 == NULL) {
        t->sm3 = crypto_sm3_new();
    } else if (crypto_sm3_init(t->sm3) != 0) {
        return -1;
    }
    if (t->sm3 == NULL || crypto_sm3_update(t->sm3, data, len) != 0 ||
        crypto_sm3_final(t->sm3, digest) != 0) {
        return -1;
    }
    memcpy(out, digest, sizeof digest);
    return 0;
}

crypto_sm3_ctx *crypto_sm3_new(void)
{
    crypto_sm3_ctx *ctx = malloc(sizeof *ctx);

    if (ctx == NULL) {
        return NULL;
    }
    ctx->md_ctx = EVP_MD_CTX_new();
    if (ctx->md_ctx == NULL || crypto_sm3_init(ctx) != 0) {
        crypto_sm3_free(ctx);
        ossl_fail();
        return NULL;
    }
    return ctx;
}

int crypto_sm3_init(crypto_sm3_ctx *ctx)
{
    ASSERT(ctx != NULL);
    if (!algs_ready()) {
        return -1;
    }
    /* With the same explicitly fetched EVP_MD as last time, OpenSSL keeps the provider's
     * digest context and only resets its state: no allocation on reuse. */
    if (EVP_DigestInit_ex(ctx->md_ctx, algs.sm3, NULL) != 1) {
        return ossl_fail();
    }
    return 0;
}

int crypto_sm3_update(crypto_sm3_ctx *ctx, const void *data, size_t len)
{
    if (len == 0) {
        return 0;
    }
    if (EVP_DigestUpdate(ctx->md_ctx, data, len) != 1) {
        return ossl_fail();
    }
    return 0;
}

int crypto_sm3_final(crypto_sm3_ctx *ctx, uint8_t out[CRYPTO_SM3_BYTES])
{
    uint8_t digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;

    if (EVP_DigestFinal_ex(ctx->md_ctx, digest, &digest_len) != 1 ||
        digest_len != CRYPTO_SM3_BYTES) {
        return ossl_fail();
    }
    memcpy(out, digest, CRYPTO_SM3_BYTES);
    return 0;
}

void crypto_sm3_free(crypto_sm3_ctx *ctx)
{
    if (ctx == NULL) {
        return;
    }
    EVP_MD_CTX_free(ctx->md_ctx);
    free(ctx);
}

/* ---- HMAC-SM3 ---- */

int crypto_hmac_sm3(const void *key, size_t key_len, const void *data, size_t len,
                    uint8_t out[CRYPTO_SM3_BYTES])
{
    static const uint8_t empty_key[1];
    char digest_name[] = "SM3";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0),
        OSSL_PARAM_construct_end(),
    };
    uint8_t mac[CRYPTO_SM3_BYTES];
    size_t mac_len = 0;
    EVP_MAC_CTX *ctx = NULL;
    int rc = -1;

    if (!algs_ready()) {
        return -1;
    }
    struct thread_ctx *t = thread_ctx();
    if (t == NULL) {
        return -1;
    }
    if (t->hmac == NULL) {
        /* The digest is set once: looking "SM3" up by name on every init cost more than the
         * MAC itself. */
        t->hmac = EVP_MAC_CTX_new(algs.hmac);
        if (t->hmac != NULL && EVP_MAC_CTX_set_params(t->hmac, params) != 1) {
            EVP_MAC_CTX_free(t->hmac);
            t->hmac = NULL;
        }
    }
    ctx = t->hmac;
    if (ctx == NULL) {
        goto fail;
    }
    /* A NULL key would mean "keep the previous key": an empty key must be passed as a real
     * pointer with length 0. */
    if (EVP_MAC_init(ctx, key_len > 0 ? key : empty_key, key_len, NULL) != 1) {
        goto fail;
    }
    if (len > 0 && EVP_MAC_update(ctx, data, len) != 1) {
        goto fail;
    }
    if (EVP_MAC_final(ctx, mac, &mac_len, sizeof mac) != 1 || mac_len != sizeof mac) {
        goto fail;
    }
    memcpy(out, mac, sizeof mac);
    rc = 0;
fail:
    if (rc != 0) {
        ossl_fail();
    }
    crypto_wipe(mac, sizeof mac);
    return rc;
}

/* ---- SM4 ---- */

int crypto_sm4_encrypt_block(const uint8_t key[CRYPTO_SM4_KEY_BYTES],
                             const uint8_t in[CRYPTO_SM4_BLOCK_BYTES],
                             uint8_t out[CRYPTO_SM4_BLOCK_BYTES])
{
    uint8_t block[2 * CRYPTO_SM4_BLOCK_BYTES];
    int out_len = 0;
    int final_len = 0;
    EVP_CIPHER_CTX *ctx = NULL;
    int rc = -1;

    if (!algs_ready()) {
        return -1;
    }
    ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL || EVP_EncryptInit_ex2(ctx, algs.sm4_ecb, key, NULL, NULL) != 1) {
        goto fail;
    }
    if (EVP_CIPHER_CTX_set_padding(ctx, 0) != 1) {
        goto fail;
    }
    if (EVP_EncryptUpdate(ctx, block, &out_len, in, CRYPTO_SM4_BLOCK_BYTES) != 1 ||
        EVP_EncryptFinal_ex(ctx, block + out_len, &final_len) != 1) {
        goto fail;
    }
    if (out_len + final_len != CRYPTO_SM4_BLOCK_BYTES) {
        goto fail;
    }
    memcpy(out, block, CRYPTO_SM4_BLOCK_BYTES);
    rc = 0;
fail:
    if (rc != 0) {
        ossl_fail();
    }
    EVP_CIPHER_CTX_free(ctx); /* frees the provider context, which wipes the key schedule */
    crypto_wipe(block, sizeof block);
    return rc;
}

/* Runs len bytes through an initialised CTR context in int-sized pieces. CTR keeps no
 * partial-block buffer between calls, so output always equals input length. */
static int sm4_ctr_update(EVP_CIPHER_CTX *ctx, const uint8_t *in, size_t len, uint8_t *out)
{
    while (len > 0) {
        int chunk = len > CRYPTO_CHUNK_MAX ? CRYPTO_CHUNK_MAX : (int)len;
        int out_len = 0;
        if (EVP_EncryptUpdate(ctx, out, &out_len, in, chunk) != 1 || out_len != chunk) {
            return -1;
        }
        in += chunk;
        out += chunk;
        len -= (size_t)chunk;
    }
    return 0;
}

int crypto_sm4_ctr(const uint8_t key[CRYPTO_SM4_KEY_BYTES], const uint8_t iv[16], const void *in,
                   size_t len, void *out)
{
    uint8_t tail[CRYPTO_SM4_BLOCK_BYTES];
    int tail_len = 0;
    EVP_CIPHER_CTX *ctx = NULL;
    int rc = -1;

    if (!algs_ready()) {
        return -1;
    }
    ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL || EVP_EncryptInit_ex2(ctx, algs.sm4_ctr, key, iv, NULL) != 1) {
        goto fail;
    }
    if (sm4_ctr_update(ctx, in, len, out) != 0) {
        goto fail;
    }
    if (EVP_EncryptFinal_ex(ctx, tail, &tail_len) != 1 || tail_len != 0) {
        goto fail;
    }
    rc = 0;
fail:
    if (rc != 0) {
        ossl_fail();
    }
    EVP_CIPHER_CTX_free(ctx);
    return rc;
}

/* ---- Randomness and memory ---- */

int crypto_random(void *buf, size_t n)
{
    uint8_t *p = buf;

    while (n > 0) {
        int chunk = n > CRYPTO_CHUNK_MAX ? CRYPTO_CHUNK_MAX : (int)n;
        if (RAND_bytes(p, chunk) != 1) {
            return ossl_fail();
        }
        p += chunk;
        n -= (size_t)chunk;
    }
    return 0;
}

void crypto_wipe(void *p, size_t n)
{
    if (p != NULL && n > 0) {
        OPENSSL_cleanse(p, n);
    }
}

int crypto_memcmp(const void *a, const void *b, size_t n)
{
    if (n == 0) {
        return 0;
    }
    return CRYPTO_memcmp(a, b, n) == 0 ? 0 : 1;
}

/* ---- SM2 keys ---- */

/* PEM readers fall back to prompting on the terminal for a passphrase when they meet an
 * encrypted PEM; a server must never block on a tty, so encrypted input is simply refused. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

/* True for an SM2 key on the SM2 curve. OpenSSL 3 decodes id-ecPublicKey keys on the SM2
 * curve as type "SM2", and only that type makes EVP_DigestSign use SM2 rather than ECDSA, so
 * both the type and the curve are checked. */
static bool sm2_pkey_ok(const EVP_PKEY *pkey)
{
    char group[32];
    size_t group_len = 0;

    if (!EVP_PKEY_is_a(pkey, "SM2")) {
        return false;
    }
    if (EVP_PKEY_get_group_name(pkey, group, sizeof group, &group_len) != 1) {
        return false;
    }
    return strcmp(group, "SM2") == 0;
}

/* Takes ownership of pkey (which may be NULL after a failed decode): wraps it in a new key,
 * or frees it when it is not an SM2 key. */
static int sm2_key_wrap(EVP_PKEY *pkey, crypto_sm2_key **out)
{
    crypto_sm2_key *key = NULL;

    if (pkey == NULL || !sm2_pkey_ok(pkey)) {
        goto free_pkey;
    }
    key = malloc(sizeof *key);
    if (key == NULL) {
        goto free_pkey;
    }
    key->pkey = pkey;
    *out = key;
    return 0;
free_pkey:
    EVP_PKEY_free(pkey);
    return ossl_fail();
}

int crypto_sm2_generate(crypto_sm2_key **out)
{
    return sm2_key_wrap(EVP_PKEY_Q_keygen(NULL, NULL, "SM2"), out);
}

void crypto_sm2_free(crypto_sm2_key *key)
{
    if (key == NULL) {
        return;
    }
    EVP_PKEY_free(key->pkey); /* clears the private scalar before freeing it */
    free(key);
}

static int write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return -1;
        }
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* fsyncs the directory holding path, so that a new name in it survives a crash. */
static int fsync_parent_dir(const char *path)
{
    char dir[CRYPTO_PATH_MAX];
    const char *slash = strrchr(path, '/');
    size_t dir_len = slash == NULL ? 0 : (size_t)(slash - path);
    int fd;
    int rc;

    if (slash == NULL) {
        strcpy(dir, ".");
    } else if (dir_len == 0) {
        strcpy(dir, "/");
    } else if (dir_len < sizeof dir) {
        memcpy(dir, path, dir_len);
        dir[dir_len] = '\0';
    } else {
        return -1;
    }
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        return -1;
    }
    rc = fsync(fd);
    close(fd);
    return rc == 0 ? 0 : -1;
}

/* A temporary name next to path, unpredictable so that a stale or planted file cannot
 * collide with it (O_EXCL would refuse it anyway). */
static int temp_path(const char *path, char *tmp, size_t tmp_size)
{
    uint8_t rnd[8];
    int n;

    if (crypto_random(rnd, sizeof rnd) != 0) {
        return -1;
    }
    n = snprintf(tmp, tmp_size, "%s.tmp.%02x%02x%02x%02x%02x%02x%02x%02x", path, rnd[0], rnd[1],
                 rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
    return n > 0 && (size_t)n < tmp_size ? 0 : -1;
}

/* Creates path holding data, atomically and durably: an exclusive mode-0600 temporary file
 * in the same directory is written and fsync'd, then moved into place and the directory is
 * fsync'd. The move is link(2) + unlink(2) rather than rename(2): rename silently replaces
 * an existing file, and a key file must never be overwritten; link fails with EEXIST. */
static int file_create_durable(const char *path, const char *data, size_t len)
{
    char tmp[CRYPTO_PATH_MAX];
    int fd;

    if (temp_path(path, tmp, sizeof tmp) != 0) {
        return -1;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        return -1;
    }
    /* The umask could have cleared bits of 0600 (never added any); make the mode exact. */
    if (fchmod(fd, 0600) != 0 || write_all(fd, data, len) != 0 || fsync(fd) != 0) {
        close(fd);
        goto unlink_tmp;
    }
    if (close(fd) != 0 || link(tmp, path) != 0) {
        goto unlink_tmp;
    }
    if (unlink(tmp) != 0) {
        return -1;
    }
    return fsync_parent_dir(path);
unlink_tmp:
    unlink(tmp);
    return -1;
}

int crypto_sm2_save_private(const crypto_sm2_key *key, const char *path)
{
    /* A secure-memory BIO clears its buffer when freed, so the PEM does not linger. */
    BIO *bio = BIO_new(BIO_s_secmem());
    char *pem = NULL;
    long pem_len;
    int rc = -1;

    ASSERT(key != NULL && path != NULL);
    if (bio == NULL ||
        PEM_write_bio_PKCS8PrivateKey(bio, key->pkey, NULL, NULL, 0, NULL, NULL) != 1) {
        goto free_bio;
    }
    pem_len = BIO_get_mem_data(bio, &pem);
    if (pem_len <= 0 || pem == NULL) {
        goto free_bio;
    }
    rc = file_create_durable(path, pem, (size_t)pem_len);
    crypto_wipe(pem, (size_t)pem_len);
free_bio:
    BIO_free(bio);
    ERR_clear_error();
    return rc;
}

/* Reads a whole file smaller than cap bytes into buf. */
static int read_small_file(const char *path, char *buf, size_t cap, size_t *len)
{
    size_t total = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        return -1;
    }
    while (total < cap) {
        ssize_t n = read(fd, buf + total, cap - total);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        total += (size_t)n;
    }
    close(fd);
    if (total == 0 || total == cap) {
        return -1;
    }
    *len = total;
    return 0;
}

int crypto_sm2_load_private(const char *path, crypto_sm2_key **out)
{
    char buf[CRYPTO_PEM_MAX];
    size_t len = 0;
    BIO *bio = NULL;
    PKCS8_PRIV_KEY_INFO *p8 = NULL;
    EVP_PKEY *pkey = NULL;
    int rc = -1;

    if (read_small_file(path, buf, sizeof buf, &len) != 0) {
        goto wipe_buf;
    }
    bio = BIO_new_mem_buf(buf, (int)len);
    if (bio == NULL) {
        goto wipe_buf;
    }
    /* Reads only the unencrypted PKCS#8 "PRIVATE KEY" form, the one save_private writes. */
    p8 = PEM_read_bio_PKCS8_PRIV_KEY_INFO(bio, NULL, no_passphrase, NULL);
    if (p8 != NULL) {
        pkey = EVP_PKCS82PKEY(p8);
    }
    rc = sm2_key_wrap(pkey, out);
wipe_buf:
    PKCS8_PRIV_KEY_INFO_free(p8); /* clears the encoded private key */
    BIO_free(bio);
    crypto_wipe(buf, sizeof buf);
    ERR_clear_error();
    return rc;
}

int crypto_sm2_public_pem(const crypto_sm2_key *key, char **pem, size_t *pem_len)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL;
    char *copy = NULL;
    long len;
    int rc = -1;

    ASSERT(key != NULL);
    if (bio == NULL || PEM_write_bio_PUBKEY(bio, key->pkey) != 1) {
        goto free_bio;
    }
    len = BIO_get_mem_data(bio, &data);
    if (len <= 0 || data == NULL) {
        goto free_bio;
    }
    copy = malloc((size_t)len + 1);
    if (copy == NULL) {
        goto free_bio;
    }
    memcpy(copy, data, (size_t)len);
    copy[len] = '\0';
    *pem = copy;
    *pem_len = (size_t)len;
    rc = 0;
free_bio:
    BIO_free(bio);
    ERR_clear_error();
    return rc;
}

int crypto_sm2_load_public_pem(const char *pem, size_t pem_len, crypto_sm2_key **out)
{
    BIO *bio;
    EVP_PKEY *pkey;

    if (pem == NULL || pem_len == 0 || pem_len > CRYPTO_PEM_MAX) {
        return -1;
    }
    bio = BIO_new_mem_buf(pem, (int)pem_len);
    if (bio == NULL) {
        return ossl_fail();
    }
    pkey = PEM_read_bio_PUBKEY(bio, NULL, no_passphrase, NULL);
    BIO_free(bio);
    return sm2_key_wrap(pkey, out);
}

/* ---- SM2 signatures ---- */

/* Prepares a digest-sign or digest-verify context for SM2 with SM3 under the GM/T 0009
 * default signer id; OpenSSL 3.0 would otherwise hash an empty id into Z and produce
 * signatures GmSSL, Tongsuo and sm-crypto reject. The id must be on the pkey context before
 * the init, hence the explicit EVP_PKEY_CTX. EVP_MD_CTX_set_pkey_ctx leaves that context
 * owned by the caller: free *mctx_out first, then *pctx_out. */
static int sm2_md_ctx_new(EVP_PKEY *pkey, bool sign, EVP_MD_CTX **mctx_out, EVP_PKEY_CTX **pctx_out)
{
    EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    int ok;

    if (pctx == NULL || mctx == NULL) {
        goto free_ctx;
    }
    if (EVP_PKEY_CTX_set1_id(pctx, CRYPTO_SM2_ID, (int)CRYPTO_SM2_ID_LEN) <= 0) {
        goto free_ctx;
    }
    EVP_MD_CTX_set_pkey_ctx(mctx, pctx);
    if (sign) {
        ok = EVP_DigestSignInit(mctx, NULL, EVP_sm3(), NULL, pkey);
    } else {
        ok = EVP_DigestVerifyInit(mctx, NULL, EVP_sm3(), NULL, pkey);
    }
    if (ok != 1) {
        goto free_ctx;
    }
    *mctx_out = mctx;
    *pctx_out = pctx;
    return 0;
free_ctx:
    EVP_MD_CTX_free(mctx);
    EVP_PKEY_CTX_free(pctx);
    return -1;
}

int crypto_sm2_sign(const crypto_sm2_key *key, const void *msg, size_t len,
                    uint8_t sig[CRYPTO_SM2_SIG_MAX], size_t *sig_len)
{
    uint8_t der[CRYPTO_SM2_SIG_MAX];
    size_t der_len = sizeof der;
    EVP_MD_CTX *mctx = NULL;
    EVP_PKEY_CTX *pctx = NULL;
    int rc = -1;

    ASSERT(key != NULL);
    if (sm2_md_ctx_new(key->pkey, true, &mctx, &pctx) != 0) {
        goto done;
    }
    if (EVP_DigestSign(mctx, der, &der_len, len > 0 ? msg : (const void *)"", len) != 1) {
        goto free_ctx;
    }
    ASSERT(der_len > 0 && der_len <= sizeof der);
    memcpy(sig, der, der_len);
    *sig_len = der_len;
    rc = 0;
free_ctx:
    EVP_MD_CTX_free(mctx);
    EVP_PKEY_CTX_free(pctx);
done:
    ERR_clear_error();
    return rc;
}

int crypto_sm2_verify(const crypto_sm2_key *key, const void *msg, size_t len, const uint8_t *sig,
                      size_t sig_len)
{
    EVP_MD_CTX *mctx = NULL;
    EVP_PKEY_CTX *pctx = NULL;
    int rc = -1;

    ASSERT(key != NULL);
    if (sig == NULL || sig_len == 0 || sig_len > CRYPTO_SM2_SIG_MAX) {
        return -1;
    }
    if (sm2_md_ctx_new(key->pkey, false, &mctx, &pctx) != 0) {
        goto done;
    }
    /* 1 is a valid signature; 0 a wrong one and <0 a malformed one: both are rejections. */
    if (EVP_DigestVerify(mctx, sig, sig_len, len > 0 ? msg : (const void *)"", len) == 1) {
        rc = 0;
    }
    EVP_MD_CTX_free(mctx);
    EVP_PKEY_CTX_free(pctx);
done:
    ERR_clear_error(); /* a rejected signature leaves decode or verify errors queued */
    return rc;
}

/* ---- Sealing: SM4-CTR, then HMAC-SM3 over what was encrypted (encrypt-then-MAC) ---- */

static int seal_tag(const uint8_t *mac_key, const void *aad, size_t aad_len, const uint8_t *iv,
                    const uint8_t *ct, size_t len, uint8_t tag[CRYPTO_SM3_BYTES])
{
    /* Tag input: aad length (8 bytes LE) | aad | iv | ciphertext: unambiguous. */
    size_t total = 8 + aad_len + 16 + len;
    uint8_t *buf = malloc(total);
    if (buf == NULL) {
        return -1;
    }
    for (int i = 0; i < 8; i++) {
        buf[i] = (uint8_t)((uint64_t)aad_len >> (8 * i));
    }
    if (aad_len > 0) {
        memcpy(buf + 8, aad, aad_len);
    }
    memcpy(buf + 8 + aad_len, iv, 16);
    memcpy(buf + 8 + aad_len + 16, ct, len);
    int rc = crypto_hmac_sm3(mac_key, CRYPTO_SEAL_KEY_BYTES - CRYPTO_SM4_KEY_BYTES, buf, total, tag);
    crypto_wipe(buf, total);
    free(buf);
    return rc;
}

int crypto_seal(const uint8_t key[CRYPTO_SEAL_KEY_BYTES], const void *aad, size_t aad_len,
                const void *in, size_t len, uint8_t *out)
{
    uint8_t *iv = out;
    uint8_t *ct = out + 16;
    if (crypto_random(iv, 16) != 0 || crypto_sm4_ctr(key, iv, in, len, ct) != 0) {
        return -1;
    }
    return seal_tag(key + CRYPTO_SM4_KEY_BYTES, aad, aad_len, iv, ct, len, ct + len);
}

int crypto_unseal(const uint8_t key[CRYPTO_SEAL_KEY_BYTES], const void *aad, size_t aad_len,
                  const uint8_t *in, size_t in_len, void *out)
{
    uint8_t tag[CRYPTO_SM3_BYTES];
    if (in_len < CRYPTO_SEAL_OVERHEAD) {
        return -1;
    }
    size_t len = in_len - CRYPTO_SEAL_OVERHEAD;
    if (seal_tag(key + CRYPTO_SM4_KEY_BYTES, aad, aad_len, in, in + 16, len, tag) != 0 ||
        crypto_memcmp(tag, in + 16 + len, sizeof tag) != 0) {
        return -1;
    }
    return crypto_sm4_ctr(key, in, in + 16, len, out);
}

/* ---- TLS (server side), for jiaozi serve --tls-cert/--tls-key ---- */

struct crypto_tls_server {
    SSL_CTX *ctx;
};

struct crypto_tls_conn {
    SSL *ssl;
};

int crypto_tls_server_new(const char *cert_path, const char *key_path, crypto_tls_server **out,
                          char *err, size_t err_len)
{
    crypto_tls_server *t = calloc(1, sizeof *t);
    if (t == NULL) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    t->ctx = SSL_CTX_new(TLS_server_method());
    if (t->ctx == NULL || SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION) != 1 ||
        SSL_CTX_use_certificate_chain_file(t->ctx, cert_path) != 1 ||
        SSL_CTX_use_PrivateKey_file(t->ctx, key_path, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(t->ctx) != 1) {
        unsigned long e = ERR_peek_last_error();
        snprintf(err, err_len, "TLS: %s", e ? ERR_reason_error_string(e) : "cannot set up");
        ERR_clear_error();
        crypto_tls_server_free(t);
        return -1;
    }
    SSL_CTX_set_mode(t->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    *out = t;
    return 0;
}

void crypto_tls_server_free(crypto_tls_server *t)
{
    if (t == NULL) {
        return;
    }
    SSL_CTX_free(t->ctx);
    free(t);
}

int crypto_tls_accept(crypto_tls_server *t, int fd, crypto_tls_conn **out)
{
    crypto_tls_conn *c = calloc(1, sizeof *c);
    if (c == NULL) {
        return -1;
    }
    c->ssl = SSL_new(t->ctx);
    if (c->ssl == NULL || SSL_set_fd(c->ssl, fd) != 1 || SSL_accept(c->ssl) != 1) {
        ERR_clear_error();
        crypto_tls_conn_free(c);
        return -1;
    }
    *out = c;
    return 0;
}

int crypto_tls_read(crypto_tls_conn *c, void *buf, size_t len)
{
    size_t got = 0;
    int rc = SSL_read_ex(c->ssl, buf, len, &got);
    if (rc != 1) {
        ERR_clear_error();
        return -1;
    }
    return (int)got;
}

int crypto_tls_pending(crypto_tls_conn *c)
{
    return SSL_pending(c->ssl);
}

int crypto_tls_write(crypto_tls_conn *c, const void *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        size_t wrote = 0;
        if (SSL_write_ex(c->ssl, (const char *)buf + done, len - done, &wrote) != 1) {
            ERR_clear_error();
            return -1;
        }
        done += wrote;
    }
    return 0;
}

void crypto_tls_conn_free(crypto_tls_conn *c)
{
    if (c == NULL) {
        return;
    }
    if (c->ssl != NULL) {
        SSL_shutdown(c->ssl);
        SSL_free(c->ssl);
    }
    ERR_clear_error();
    free(c);
}
