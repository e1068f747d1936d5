/*
 * tsm.c: the trusted-service manager's keys and certificates (see tsm.h).
 */
#include "tsm.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include "limits.h"

#define TSM_OPERATORS_MAX JZ_INSTITUTIONS_MAX
#define MASTER_BYTES 32
#define PATH_BYTES 4200

struct tsm_operator {
    char id[JZ_INSTITUTION_ID_MAX + 1];
    crypto_sm2_key *key;
    crypto_cert *ca;
    uint8_t master[MASTER_BYTES];
};

struct tsm {
    char dir[PATH_BYTES - 200];
    crypto_sm2_key *root_key;
    crypto_cert *root;
    pthread_mutex_t mu;
    uint32_t nops;
    struct tsm_operator ops[TSM_OPERATORS_MAX];
};

/* ---- files ---- */

static int read_bytes(const char *path, uint8_t *buf, size_t cap, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -1;
    }
    ssize_t n = read(fd, buf, cap);
    close(fd);
    if (n <= 0 || (size_t)n == cap) {
        return -1;
    }
    *len = (size_t)n;
    return 0;
}

/* Creates path with data (mode 0600), synced; fails if it exists. */
static int write_new(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        return -1;
    }
    int rc = write(fd, data, len) == (ssize_t)len && fsync(fd) == 0 ? 0 : -1;
    close(fd);
    if (rc != 0) {
        unlink(path);
    }
    return rc;
}

static int cert_load(const char *path, crypto_cert **out)
{
    char pem[CRYPTO_CERT_PEM_MAX + 1];
    size_t len = 0;
    if (read_bytes(path, (uint8_t *)pem, sizeof pem, &len) != 0) {
        return -1;
    }
    return crypto_cert_from_pem(pem, len, out);
}

static int cert_save(const crypto_cert *c, const char *path)
{
    char *pem = NULL;
    size_t len = 0;
    if (crypto_cert_pem(c, &pem, &len) != 0) {
        return -1;
    }
    int rc = write_new(path, pem, len);
    free(pem);
    return rc;
}

/* ---- CAs ---- */

static void ca_spec(struct crypto_cert_spec *s, const char *cn, int64_t now_ms, int64_t valid_ms,
                    int path_len)
{
    memset(s, 0, sizeof *s);
    s->common_name = cn;
    crypto_random(s->serial, sizeof s->serial);
    s->serial[0] &= 0x7f;
    s->not_before_ms = now_ms - 60000; /* a minute of slack for clocks a little behind */
    s->not_after_ms = now_ms + valid_ms;
    s->ca = true;
    s->path_len = path_len;
}

/* Loads a CA's key and certificate from prefix.key / prefix.pem, or makes them (self-signed
 * when issuer is NULL). */
static int ca_load_or_make(const char *prefix, const char *cn, const crypto_cert *issuer,
                           const crypto_sm2_key *issuer_key, int64_t now_ms,
                           crypto_sm2_key **key, crypto_cert **cert)
{
    char kp[PATH_BYTES], cp[PATH_BYTES];
    snprintf(kp, sizeof kp, "%s.key", prefix);
    snprintf(cp, sizeof cp, "%s.pem", prefix);
    if (access(kp, F_OK) == 0) {
        return crypto_sm2_load_private(kp, key) == 0 && cert_load(cp, cert) == 0 ? 0 : -1;
    }
    if (now_ms <= 0) {
        return -1; /* only loading was asked for */
    }
    struct crypto_cert_spec spec;
    ca_spec(&spec, cn, now_ms, issuer ? TSM_CA_VALIDITY_MS : TSM_ROOT_VALIDITY_MS,
            issuer ? 0 : 1);
    if (crypto_sm2_generate(key) != 0) {
        return -1;
    }
    if (crypto_cert_create(*key, issuer, issuer ? issuer_key : *key, &spec, cert) != 0 ||
        crypto_sm2_save_private(*key, kp) != 0 || cert_save(*cert, cp) != 0) {
        return -1;
    }
    return 0;
}

int tsm_open(const char *data_dir, int64_t now_ms, tsm **out, char *err, size_t err_len)
{
    tsm *t = calloc(1, sizeof *t);
    char prefix[PATH_BYTES - 100];
    if (!t) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    pthread_mutex_init(&t->mu, NULL);
    snprintf(t->dir, sizeof t->dir, "%s/pki", data_dir);
    snprintf(prefix, sizeof prefix, "%s/root", t->dir);
    if ((mkdir(t->dir, 0700) != 0 && errno != EEXIST) ||
        ca_load_or_make(prefix, "jiaozi platform root", NULL, NULL, now_ms, &t->root_key,
                        &t->root) != 0) {
        snprintf(err, err_len, "%s: cannot load or make the platform root", t->dir);
        tsm_close(t);
        return -1;
    }
    *out = t;
    return 0;
}

void tsm_close(tsm *t)
{
    if (!t) {
        return;
    }
    for (uint32_t i = 0; i < t->nops; i++) {
        crypto_sm2_free(t->ops[i].key);
        crypto_cert_free(t->ops[i].ca);
        crypto_wipe(t->ops[i].master, MASTER_BYTES);
    }
    crypto_sm2_free(t->root_key);
    crypto_cert_free(t->root);
    pthread_mutex_destroy(&t->mu);
    free(t);
}

const crypto_cert *tsm_root(const tsm *t)
{
    return t->root;
}

static int master_load_or_make(const char *path, uint8_t out[MASTER_BYTES])
{
    size_t len = 0;
    if (access(path, F_OK) != 0) {
        uint8_t fresh[MASTER_BYTES];
        int rc = crypto_random(fresh, sizeof fresh) == 0 ? write_new(path, fresh, sizeof fresh)
                                                         : -1;
        crypto_wipe(fresh, sizeof fresh);
        if (rc != 0) {
            return -1;
        }
    }
    uint8_t buf[MASTER_BYTES + 1];
    int rc = read_bytes(path, buf, sizeof buf, &len) == 0 && len == MASTER_BYTES ? 0 : -1;
    if (rc == 0) {
        memcpy(out, buf, MASTER_BYTES);
    }
    crypto_wipe(buf, sizeof buf);
    return rc;
}

/* The operator's entry, loaded or made; called with t->mu held. */
static struct tsm_operator *op_get(tsm *t, const char *op, int64_t now_ms)
{
    for (uint32_t i = 0; i < t->nops; i++) {
        if (strcmp(t->ops[i].id, op) == 0) {
            return &t->ops[i];
        }
    }
    size_t n = strlen(op);
    if (t->nops == TSM_OPERATORS_MAX || n == 0 || n > JZ_INSTITUTION_ID_MAX ||
        strspn(op, "abcdefghijklmnopqrstuvwxyz0123456789_") != n) {
        return NULL;
    }
    struct tsm_operator *o = &t->ops[t->nops];
    char prefix[PATH_BYTES - 100], mp[PATH_BYTES], cn[64];
    snprintf(prefix, sizeof prefix, "%s/op_%s", t->dir, op);
    snprintf(mp, sizeof mp, "%s.master", prefix);
    snprintf(cn, sizeof cn, "jiaozi operator CA %s", op);
    if (ca_load_or_make(prefix, cn, t->root, t->root_key, now_ms, &o->key, &o->ca) != 0 ||
        master_load_or_make(mp, o->master) != 0) {
        crypto_sm2_free(o->key);
        crypto_cert_free(o->ca);
        memset(o, 0, sizeof *o);
        return NULL;
    }
    snprintf(o->id, sizeof o->id, "%s", op);
    t->nops++;
    return o;
}

int tsm_operator_ca(tsm *t, const char *op, int64_t now_ms, const crypto_cert **out)
{
    pthread_mutex_lock(&t->mu);
    struct tsm_operator *o = op_get(t, op, now_ms);
    pthread_mutex_unlock(&t->mu);
    if (!o) {
        return -1;
    }
    *out = o->ca;
    return 0;
}

/* ---- cards ---- */

int tsm_certify(tsm *t, const char *op, const crypto_sm2_key *card_key,
                const struct crypto_card_ext *ext, int64_t now_ms, int64_t not_after_ms,
                crypto_cert **out)
{
    char cn[64];
    char hex[33];
    jz_id id;
    memcpy(id.b, ext->card_id, 16);
    jz_id_to_hex(&id, hex);
    snprintf(cn, sizeof cn, "jiaozi card %s", hex);
    struct crypto_cert_spec spec = {.common_name = cn, .not_before_ms = now_ms - 60000,
                                    .not_after_ms = not_after_ms, .ca = false, .path_len = -1,
                                    .card = ext};
    memcpy(spec.serial, ext->card_id, 16);
    pthread_mutex_lock(&t->mu);
    struct tsm_operator *o = op_get(t, op, now_ms);
    int rc = o ? crypto_cert_create(card_key, o->ca, o->key, &spec, out) : -1;
    pthread_mutex_unlock(&t->mu);
    return rc;
}

static void card_key(const struct tsm_operator *o, const jz_id *card,
                     uint8_t out[VOUCHER_CARD_KEY_BYTES])
{
    uint8_t in[32];
    uint8_t enc[CRYPTO_SM3_BYTES];
    memcpy(in, "jiaozi card enc|", 16);
    memcpy(in + 16, card->b, 16);
    ASSERT(crypto_hmac_sm3(o->master, MASTER_BYTES, in, sizeof in, enc) == 0);
    memcpy(in, "jiaozi card mac|", 16);
    ASSERT(crypto_hmac_sm3(o->master, MASTER_BYTES, in, sizeof in, out + CRYPTO_SM4_KEY_BYTES) ==
           0);
    memcpy(out, enc, CRYPTO_SM4_KEY_BYTES);
    crypto_wipe(enc, sizeof enc);
}

static int cert_bytes(const crypto_cert *c, uint8_t **der, size_t *len)
{
    return crypto_cert_der(c, der, len);
}

int tsm_personalisation(tsm *t, const char *op, const crypto_cert *card, uint8_t *out,
                        size_t cap, size_t *len)
{
    struct crypto_card_ext ext;
    uint8_t key[VOUCHER_CARD_KEY_BYTES];
    uint8_t ek[VOUCHER_CARD_KEY_BYTES + CRYPTO_SM2_CIPHER_OVERHEAD];
    size_t ek_len = 0;
    uint8_t *der[3] = {NULL, NULL, NULL};
    size_t der_len[3] = {0, 0, 0};
    int rc = -1;
    if (crypto_cert_card_ext(card, &ext) != 0) {
        return -1;
    }
    jz_id id;
    memcpy(id.b, ext.card_id, 16);
    pthread_mutex_lock(&t->mu);
    struct tsm_operator *o = op_get(t, op, 0);
    if (o) {
        card_key(o, &id, key);
    }
    pthread_mutex_unlock(&t->mu);
    if (!o || crypto_sm2_encrypt(crypto_cert_key(card), key, sizeof key, ek, sizeof ek,
                                 &ek_len) != 0 ||
        cert_bytes(card, &der[0], &der_len[0]) != 0 || cert_bytes(o->ca, &der[1], &der_len[1]) ||
        cert_bytes(t->root, &der[2], &der_len[2]) != 0) {
        goto done;
    }
    struct voucher_perso p = {.enc_key = ek, .enc_key_len = ek_len, .cert = der[0],
                              .cert_len = der_len[0], .ca = der[1], .ca_len = der_len[1],
                              .root = der[2], .root_len = der_len[2]};
    size_t n = voucher_perso_wrap(key, &id, &p, out, cap);
    if (n > 0) {
        *len = n;
        rc = 0;
    }
done:
    crypto_wipe(key, sizeof key);
    for (int i = 0; i < 3; i++) {
        free(der[i]);
    }
    return rc;
}

int tsm_command(tsm *t, const char *op, const struct voucher_command *cmd, uint8_t *out,
                size_t cap, size_t *len)
{
    uint8_t body[VOUCHER_COMMAND_BODY_BYTES];
    uint8_t sig[CRYPTO_SM2_SIG_MAX];
    uint8_t key[VOUCHER_CARD_KEY_BYTES];
    size_t sig_len = 0;
    size_t n = 0;
    voucher_command_body_encode(cmd, body);
    pthread_mutex_lock(&t->mu);
    struct tsm_operator *o = op_get(t, op, 0);
    if (o) {
        card_key(o, &cmd->card, key);
    }
    pthread_mutex_unlock(&t->mu);
    if (o && crypto_sm2_sign(o->key, body, sizeof body, sig, &sig_len) == 0) {
        n = voucher_command_wrap(key, &cmd->card, body, sig, sig_len, out, cap);
    }
    crypto_wipe(key, sizeof key);
    if (n == 0) {
        return -1;
    }
    *len = n;
    return 0;
}
