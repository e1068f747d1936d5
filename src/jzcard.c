/*
 * jzcard.c: the secure-element emulator (see jzcard.h). Every operation works on a copy of
 * the state and makes it current only once the copy is durable on disk (card_commit).
 */
#include "jzcard.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bytes.h"
#include "crypto_x509.h"
#include "io.h"
#include "limits.h"

static const uint8_t file_magic[8] = {'J', 'Z', 'C', 'A', 'R', 'D', 1, 0};
/* The largest state file: the three certificates, the received vouchers with their payers'
 * certificates, the revocation list, and small change. */
#define STATE_MAX (3 * VOUCHER_CERT_MAX + JZCARD_RECEIVED_MAX * (VOUCHER_BODY_BYTES + 80 + 2 + \
                   VOUCHER_CERT_MAX) + JZCARD_SENT_MAX * (VOUCHER_BODY_BYTES + 80) +           \
                   JZCARD_REVOKED_MAX * 16 + 4096)
#define FILE_MAX (sizeof file_magic + CRYPTO_SEAL_OVERHEAD + STATE_MAX)

struct pending {
    uint8_t nonce[16];
    int64_t amount;
};

struct stored {
    uint8_t body[VOUCHER_BODY_BYTES];
    uint8_t sig[CRYPTO_SM2_SIG_MAX];
    uint8_t sig_len;
    uint16_t cert_len; /* received: the payer's certificate; sent: 0 (it is ours) */
    uint8_t cert[VOUCHER_CERT_MAX];
};

struct state {
    uint8_t status;
    jz_id id;
    uint16_t key_len, cert_len, ca_len, root_len;
    uint8_t key[CRYPTO_SM2_PRIVATE_DER_MAX];
    uint8_t card_key[VOUCHER_CARD_KEY_BYTES];
    uint8_t cert[VOUCHER_CERT_MAX], ca[VOUCHER_CERT_MAX], root[VOUCHER_CERT_MAX];
    int64_t balance;
    uint32_t counter;
    uint8_t last_hash[CRYPTO_SM3_BYTES];
    uint32_t load_counter;
    int64_t since_total;
    uint32_t since_count;
    uint32_t n_pending, n_sent, n_received, n_revoked;
    struct pending pending[JZCARD_PENDING_MAX];
    struct stored sent[JZCARD_SENT_MAX];
    struct stored received[JZCARD_RECEIVED_MAX];
    jz_id revoked[JZCARD_REVOKED_MAX];
};

struct jzcard {
    char *path;
    uint8_t device_key[CRYPTO_SEAL_KEY_BYTES];
    struct state st;
    /* Derived from st when it is loaded or changes. */
    crypto_sm2_key *key;
    crypto_cert *cert, *ca, *root;
    struct crypto_card_ext ext;
    int64_t not_before_ms, not_after_ms;
};

static const char *const error_text[] = {
#define JZCARD_X(name, text) text,
    JZCARD_ERRORS(JZCARD_X)
#undef JZCARD_X
};

const char *jzcard_strerror(int code)
{
    return code >= 0 && code < JZCARD_ERROR_COUNT ? error_text[code] : "unknown error";
}

/* ---- the state's encoding ---- */

static void put_stored(struct cur *c, const struct stored *s)
{
    put(c, s->body, VOUCHER_BODY_BYTES);
    put_int(c, s->sig_len, 1);
    put(c, s->sig, s->sig_len);
    put_int(c, s->cert_len, 2);
    put(c, s->cert, s->cert_len);
}

static void get_stored(struct cur *c, struct stored *s)
{
    get_bytes(c, s->body, VOUCHER_BODY_BYTES);
    s->sig_len = (uint8_t)get_int(c, 1);
    c->bad |= s->sig_len == 0 || s->sig_len > CRYPTO_SM2_SIG_MAX;
    get_bytes(c, s->sig, c->bad ? 0 : s->sig_len);
    s->cert_len = (uint16_t)get_int(c, 2);
    c->bad |= s->cert_len > VOUCHER_CERT_MAX;
    get_bytes(c, s->cert, c->bad ? 0 : s->cert_len);
}

/* A byte string with a u16 length, at most max (may be empty). */
static void put_blob(struct cur *c, const uint8_t *p, uint16_t n)
{
    put_int(c, n, 2);
    put(c, p, n);
}

static uint16_t get_blob(struct cur *c, uint8_t *out, size_t max)
{
    uint16_t n = (uint16_t)get_int(c, 2);
    c->bad |= n > max;
    get_bytes(c, out, c->bad ? 0 : n);
    return n;
}

static size_t state_encode(const struct state *s, uint8_t *out, size_t cap)
{
    struct cur c = {.w = out, .len = cap};
    put_int(&c, s->status, 1);
    put(&c, s->id.b, 16);
    put_blob(&c, s->key, s->key_len);
    put(&c, s->card_key, sizeof s->card_key);
    put_blob(&c, s->cert, s->cert_len);
    put_blob(&c, s->ca, s->ca_len);
    put_blob(&c, s->root, s->root_len);
    put_int(&c, (uint64_t)s->balance, 8);
    put_int(&c, s->counter, 4);
    put(&c, s->last_hash, sizeof s->last_hash);
    put_int(&c, s->load_counter, 4);
    put_int(&c, (uint64_t)s->since_total, 8);
    put_int(&c, s->since_count, 4);
    put_int(&c, s->n_pending, 4);
    for (uint32_t i = 0; i < s->n_pending; i++) {
        put(&c, s->pending[i].nonce, 16);
        put_int(&c, (uint64_t)s->pending[i].amount, 8);
    }
    put_int(&c, s->n_sent, 4);
    for (uint32_t i = 0; i < s->n_sent; i++) {
        put_stored(&c, &s->sent[i]);
    }
    put_int(&c, s->n_received, 4);
    for (uint32_t i = 0; i < s->n_received; i++) {
        put_stored(&c, &s->received[i]);
    }
    put_int(&c, s->n_revoked, 4);
    for (uint32_t i = 0; i < s->n_revoked; i++) {
        put(&c, s->revoked[i].b, 16);
    }
    return c.bad ? 0 : c.pos;
}

/* Reads a count and checks it against its array. */
static uint32_t get_count(struct cur *c, uint32_t max)
{
    uint32_t n = (uint32_t)get_int(c, 4);
    c->bad |= n > max;
    return c->bad ? 0 : n;
}

static int state_decode(const uint8_t *in, size_t len, struct state *s)
{
    struct cur c = {.r = in, .len = len};
    memset(s, 0, sizeof *s);
    s->status = (uint8_t)get_int(&c, 1);
    get_bytes(&c, s->id.b, 16);
    s->key_len = get_blob(&c, s->key, sizeof s->key);
    get_bytes(&c, s->card_key, sizeof s->card_key);
    s->cert_len = get_blob(&c, s->cert, sizeof s->cert);
    s->ca_len = get_blob(&c, s->ca, sizeof s->ca);
    s->root_len = get_blob(&c, s->root, sizeof s->root);
    s->balance = (int64_t)get_int(&c, 8);
    s->counter = (uint32_t)get_int(&c, 4);
    get_bytes(&c, s->last_hash, sizeof s->last_hash);
    s->load_counter = (uint32_t)get_int(&c, 4);
    s->since_total = (int64_t)get_int(&c, 8);
    s->since_count = (uint32_t)get_int(&c, 4);
    s->n_pending = get_count(&c, JZCARD_PENDING_MAX);
    for (uint32_t i = 0; i < s->n_pending; i++) {
        get_bytes(&c, s->pending[i].nonce, 16);
        s->pending[i].amount = (int64_t)get_int(&c, 8);
    }
    s->n_sent = get_count(&c, JZCARD_SENT_MAX);
    for (uint32_t i = 0; i < s->n_sent; i++) {
        get_stored(&c, &s->sent[i]);
    }
    s->n_received = get_count(&c, JZCARD_RECEIVED_MAX);
    for (uint32_t i = 0; i < s->n_received; i++) {
        get_stored(&c, &s->received[i]);
    }
    s->n_revoked = get_count(&c, JZCARD_REVOKED_MAX);
    for (uint32_t i = 0; i < s->n_revoked; i++) {
        get_bytes(&c, s->revoked[i].b, 16);
    }
    bool ok = cur_ended(&c) && s->status <= JZCARD_CLOSED && s->balance >= 0 &&
              s->balance <= JZ_AMOUNT_MAX && s->key_len > 0;
    return ok ? 0 : -1;
}

/* ---- files ---- */

/* The directory holding path, synced so that a rename into it is durable. */
static int fsync_dir_of(const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash) {
        snprintf(dir, sizeof dir, ".");
    } else {
        snprintf(dir, sizeof dir, "%.*s", (int)(slash == path ? 1 : slash - path), path);
    }
    return io_fsync_dir(&io_posix, dir);
}

/* path's new content, whole or not at all: a new file beside it, synced, renamed over it. */
static int file_replace(const char *path, const uint8_t *data, size_t len, bool exclusive)
{
    char tmp[4200];
    uint8_t rnd[8];
    char hex[17];
    if (crypto_random(rnd, sizeof rnd) != 0) {
        return -1;
    }
    jz_hex_encode(rnd, sizeof rnd, hex);
    snprintf(tmp, sizeof tmp, "%s.tmp.%s", path, hex);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        return -1;
    }
    int rc = io_pwrite_all(&io_posix, fd, data, len, 0) == 0 && fsync(fd) == 0 ? 0 : -1;
    rc |= close(fd);
    /* A new card must not replace an existing one: link fails on an existing name. */
    if (rc == 0) {
        rc = exclusive ? link(tmp, path) : rename(tmp, path);
    }
    if (rc != 0 || exclusive) {
        unlink(tmp);
    }
    return rc == 0 ? fsync_dir_of(path) : -1;
}

/* Reads a whole file smaller than cap bytes. */
static int read_file(const char *path, uint8_t *buf, size_t cap, size_t *len)
{
    size_t n = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -1;
    }
    int rc = io_pread_full(&io_posix, fd, buf, cap, 0, &n);
    close(fd);
    if (rc != 0 || n == cap) {
        return -1; /* larger than any card file */
    }
    *len = n;
    return 0;
}

static void key_path(const char *path, char *out, size_t n)
{
    snprintf(out, n, "%s.key", path);
}

/* Seals st and replaces the card file with it. */
static int state_save(const jzcard *c, const struct state *st, bool exclusive)
{
    uint8_t *plain = malloc(STATE_MAX);
    uint8_t *file = malloc(FILE_MAX);
    int rc = JZCARD_E_IO;
    size_t n = plain ? state_encode(st, plain, STATE_MAX) : 0;
    if (n == 0 || file == NULL) {
        goto done;
    }
    memcpy(file, file_magic, sizeof file_magic);
    if (crypto_seal(c->device_key, file_magic, sizeof file_magic, plain, n,
                    file + sizeof file_magic) != 0) {
        rc = JZCARD_E_CRYPTO;
        goto done;
    }
    if (file_replace(c->path, file, sizeof file_magic + n + CRYPTO_SEAL_OVERHEAD, exclusive) ==
        0) {
        rc = JZCARD_OK;
    } else if (exclusive && errno == EEXIST) {
        rc = JZCARD_E_EXISTS;
    }
done:
    if (plain) {
        crypto_wipe(plain, STATE_MAX);
    }
    free(plain);
    free(file);
    return rc;
}

/* ---- derived objects ---- */

static void derived_free(jzcard *c)
{
    crypto_sm2_free(c->key);
    crypto_cert_free(c->cert);
    crypto_cert_free(c->ca);
    crypto_cert_free(c->root);
    c->key = NULL;
    c->cert = c->ca = c->root = NULL;
}

/* Rebuilds the key and certificates from the state. */
static int derive(jzcard *c)
{
    const struct state *s = &c->st;
    derived_free(c);
    if (crypto_sm2_from_private_der(s->key, s->key_len, &c->key) != 0) {
        return JZCARD_E_CORRUPT;
    }
    if (s->status == JZCARD_BLANK) {
        return JZCARD_OK;
    }
    if (crypto_cert_from_der(s->cert, s->cert_len, &c->cert) != 0 ||
        crypto_cert_from_der(s->ca, s->ca_len, &c->ca) != 0 ||
        crypto_cert_from_der(s->root, s->root_len, &c->root) != 0 ||
        crypto_cert_card_ext(c->cert, &c->ext) != 0) {
        return JZCARD_E_CORRUPT;
    }
    crypto_cert_validity(c->cert, &c->not_before_ms, &c->not_after_ms);
    return JZCARD_OK;
}

static void card_free(jzcard *c)
{
    if (!c) {
        return;
    }
    derived_free(c);
    crypto_wipe(c->device_key, sizeof c->device_key);
    crypto_wipe(&c->st, sizeof c->st);
    free(c->path);
    free(c);
}

void jzcard_close(jzcard *c)
{
    card_free(c);
}

static jzcard *card_alloc(const char *path)
{
    jzcard *c = calloc(1, sizeof *c);
    if (c && !(c->path = strdup(path))) {
        free(c);
        c = NULL;
    }
    return c;
}

int jzcard_create(const char *path, jzcard **out)
{
    char kp[4200];
    jzcard *c = card_alloc(path);
    crypto_sm2_key *key = NULL;
    size_t n = 0;
    int rc = JZCARD_E_CRYPTO;
    key_path(path, kp, sizeof kp);
    if (!c || crypto_random(c->device_key, sizeof c->device_key) != 0 ||
        crypto_sm2_generate(&key) != 0 ||
        crypto_sm2_private_der(key, c->st.key, sizeof c->st.key, &n) != 0 ||
        voucher_card_id(key, &c->st.id) != 0) {
        goto fail;
    }
    c->st.key_len = (uint16_t)n;
    c->st.status = JZCARD_BLANK;
    if (file_replace(kp, c->device_key, sizeof c->device_key, true) != 0) {
        rc = errno == EEXIST ? JZCARD_E_EXISTS : JZCARD_E_IO;
        goto fail;
    }
    rc = state_save(c, &c->st, true);
    if (rc == JZCARD_OK) {
        rc = derive(c);
    }
    if (rc != JZCARD_OK) {
        unlink(kp);
        goto fail;
    }
    crypto_sm2_free(key);
    *out = c;
    return JZCARD_OK;
fail:
    crypto_sm2_free(key);
    card_free(c);
    return rc;
}

int jzcard_open(const char *path, jzcard **out)
{
    char kp[4200];
    size_t key_len = 0;
    size_t len = 0;
    jzcard *c = card_alloc(path);
    uint8_t *file = malloc(FILE_MAX);
    uint8_t *plain = malloc(STATE_MAX);
    int rc = JZCARD_E_IO;
    key_path(path, kp, sizeof kp);
    if (!c || !file || !plain ||
        read_file(kp, c->device_key, sizeof c->device_key + 1, &key_len) != 0 ||
        read_file(path, file, FILE_MAX, &len) != 0) {
        goto done;
    }
    rc = JZCARD_E_CORRUPT;
    if (key_len != sizeof c->device_key || len < sizeof file_magic + CRYPTO_SEAL_OVERHEAD ||
        memcmp(file, file_magic, sizeof file_magic) != 0 ||
        crypto_unseal(c->device_key, file_magic, sizeof file_magic, file + sizeof file_magic,
                      len - sizeof file_magic, plain) != 0 ||
        state_decode(plain, len - sizeof file_magic - CRYPTO_SEAL_OVERHEAD, &c->st) != 0) {
        goto done;
    }
    rc = derive(c);
done:
    if (plain) {
        crypto_wipe(plain, STATE_MAX);
    }
    free(plain);
    free(file);
    if (rc == JZCARD_OK) {
        *out = c;
    } else {
        card_free(c);
    }
    return rc;
}

/* Makes next the card's state once it is durable. next is a heap copy the caller made with
 * state_copy; it is consumed. */
static int card_commit(jzcard *c, struct state *next)
{
    int rc = state_save(c, next, false);
    if (rc == JZCARD_OK) {
        c->st = *next;
    }
    crypto_wipe(next, sizeof *next);
    free(next);
    return rc;
}

static struct state *state_copy(const jzcard *c)
{
    struct state *s = malloc(sizeof *s);
    if (s) {
        *s = c->st;
    }
    return s;
}

/* ---- information ---- */

void jzcard_get_info(const jzcard *c, struct jzcard_info *out)
{
    const struct state *s = &c->st;
    memset(out, 0, sizeof *out);
    out->card = s->id;
    out->status = s->status;
    out->balance = s->balance;
    out->counter = s->counter;
    out->load_counter = s->load_counter;
    out->since_sync_total = s->since_total;
    out->since_sync_count = s->since_count;
    out->pending = s->n_pending;
    out->sent = s->n_sent;
    out->received = s->n_received;
    out->revoked = s->n_revoked;
    if (s->status != JZCARD_BLANK) {
        memcpy(out->wallet.b, c->ext.wallet_id, 16);
        out->tier = c->ext.tier;
        out->per_payment = c->ext.per_payment;
        out->offline_total = c->ext.offline_total;
        out->offline_count = c->ext.offline_count;
        out->not_before_ms = c->not_before_ms;
        out->not_after_ms = c->not_after_ms;
    }
}

int jzcard_public_pem(const jzcard *c, char **pem, size_t *len)
{
    return crypto_sm2_public_pem(c->key, pem, len) == 0 ? JZCARD_OK : JZCARD_E_CRYPTO;
}

int jzcard_certificate(const jzcard *c, const uint8_t **der, size_t *len)
{
    if (c->st.status == JZCARD_BLANK) {
        return JZCARD_E_STATE;
    }
    *der = c->st.cert;
    *len = c->st.cert_len;
    return JZCARD_OK;
}

/* ---- personalisation and TSM commands ---- */

/* Checks the certificates of a personalisation: the card certificate is for this key and
 * id, and chains to the root through the operator CA now. */
static int perso_check(const jzcard *c, const struct voucher_perso *p, int64_t now_ms)
{
    crypto_cert *cert = NULL, *ca = NULL, *root = NULL;
    struct crypto_card_ext ext;
    int rc = JZCARD_E_CERT;
    if (crypto_cert_from_der(p->cert, p->cert_len, &cert) != 0 ||
        crypto_cert_from_der(p->ca, p->ca_len, &ca) != 0 ||
        crypto_cert_from_der(p->root, p->root_len, &root) != 0 ||
        crypto_cert_card_ext(cert, &ext) != 0) {
        goto done;
    }
    const crypto_cert *mid[1] = {ca};
    if (memcmp(ext.card_id, c->st.id.b, 16) != 0 ||
        crypto_sm2_same_public(crypto_cert_key(cert), c->key) != 0) {
        rc = JZCARD_E_NOT_FOR_ME;
    } else if (crypto_cert_verify_chain(root, mid, 1, cert, now_ms) == 0) {
        rc = JZCARD_OK;
    }
done:
    crypto_cert_free(cert);
    crypto_cert_free(ca);
    crypto_cert_free(root);
    return rc;
}

int jzcard_personalise(jzcard *c, const uint8_t *perso, size_t len, int64_t now_ms)
{
    jz_id id;
    const uint8_t *ek = NULL;
    size_t ek_len = 0, key_len = 0;
    uint8_t key[VOUCHER_CARD_KEY_BYTES + 16];
    struct voucher_perso p;
    if (c->st.status != JZCARD_BLANK) {
        return JZCARD_E_STATE;
    }
    if (voucher_perso_header(perso, len, &id, &ek, &ek_len) != 0) {
        return JZCARD_E_INPUT;
    }
    if (!jz_id_eq(&id, &c->st.id)) {
        return JZCARD_E_NOT_FOR_ME;
    }
    uint8_t *plain = malloc(3 * (2 + VOUCHER_CERT_MAX));
    struct state *next = state_copy(c);
    int rc = JZCARD_E_CRYPTO;
    if (!plain || !next || crypto_sm2_decrypt(c->key, ek, ek_len, key, sizeof key, &key_len) != 0 ||
        key_len != VOUCHER_CARD_KEY_BYTES) {
        goto fail;
    }
    if (voucher_perso_open(key, perso, len, plain, 3 * (2 + VOUCHER_CERT_MAX), &p) != 0) {
        rc = JZCARD_E_INPUT;
        goto fail;
    }
    rc = perso_check(c, &p, now_ms);
    if (rc != JZCARD_OK) {
        goto fail;
    }
    memcpy(next->card_key, key, sizeof next->card_key);
    memcpy(next->cert, p.cert, p.cert_len);
    memcpy(next->ca, p.ca, p.ca_len);
    memcpy(next->root, p.root, p.root_len);
    next->cert_len = (uint16_t)p.cert_len;
    next->ca_len = (uint16_t)p.ca_len;
    next->root_len = (uint16_t)p.root_len;
    next->status = JZCARD_ACTIVE;
    free(plain);
    crypto_wipe(key, sizeof key);
    rc = card_commit(c, next);
    return rc == JZCARD_OK ? derive(c) : rc;
fail:
    free(plain);
    free(next);
    crypto_wipe(key, sizeof key);
    return rc;
}

/* What a command does to the state (already checked to be the next one). */
static int command_effect(struct state *s, const struct voucher_command *cmd)
{
    switch (cmd->type) {
    case VOUCHER_CMD_LOAD:
        if (s->balance > JZ_AMOUNT_MAX - cmd->amount) {
            return JZCARD_E_BALANCE;
        }
        s->balance += cmd->amount;
        break;
    case VOUCHER_CMD_UNLOAD:
        if (cmd->amount > s->balance) {
            return JZCARD_E_BALANCE;
        }
        s->balance -= cmd->amount;
        break;
    default: /* close: everything left goes back with the float */
        s->balance = 0;
        s->status = JZCARD_CLOSED;
        break;
    }
    s->load_counter = cmd->counter;
    return JZCARD_OK;
}

int jzcard_apply_command(jzcard *c, const uint8_t *in, size_t len,
                         struct voucher_command *applied)
{
    struct voucher_command cmd;
    uint8_t body[VOUCHER_COMMAND_BODY_BYTES];
    uint8_t sig[CRYPTO_SM2_SIG_MAX];
    size_t sig_len = 0;
    if (c->st.status != JZCARD_ACTIVE) {
        return JZCARD_E_STATE;
    }
    if (len < 16 || memcmp(in, c->st.id.b, 16) != 0) {
        return len < 16 ? JZCARD_E_INPUT : JZCARD_E_NOT_FOR_ME;
    }
    if (voucher_command_unwrap(c->st.card_key, &c->st.id, in, len, &cmd, body, sig, &sig_len) !=
        0) {
        return JZCARD_E_INPUT;
    }
    if (crypto_sm2_verify(crypto_cert_key(c->ca), body, sizeof body, sig, sig_len) != 0) {
        return JZCARD_E_SIGNATURE;
    }
    if (cmd.counter <= c->st.load_counter) {
        return JZCARD_E_REPLAY;
    }
    if (cmd.counter != c->st.load_counter + 1) {
        return JZCARD_E_SEQUENCE;
    }
    struct state *next = state_copy(c);
    if (!next) {
        return JZCARD_E_IO;
    }
    int rc = command_effect(next, &cmd);
    if (rc != JZCARD_OK) {
        free(next);
        return rc;
    }
    rc = card_commit(c, next);
    if (rc == JZCARD_OK && applied) {
        *applied = cmd;
    }
    return rc;
}

/* ---- offline payment ---- */

static bool valid_now(const jzcard *c, int64_t now_ms)
{
    return now_ms >= c->not_before_ms && now_ms <= c->not_after_ms;
}

int jzcard_request(jzcard *c, int64_t amount, int64_t now_ms,
                   uint8_t out[VOUCHER_CHALLENGE_BYTES])
{
    struct voucher_challenge ch = {.payee = c->st.id, .amount = amount, .time_ms = now_ms};
    if (c->st.status != JZCARD_ACTIVE) {
        return JZCARD_E_STATE;
    }
    if (!valid_now(c, now_ms)) {
        return JZCARD_E_EXPIRED;
    }
    if (amount < 1 || amount > JZ_AMOUNT_MAX || now_ms < 0) {
        return JZCARD_E_INPUT;
    }
    struct state *next = state_copy(c);
    if (!next || crypto_random(ch.nonce, sizeof ch.nonce) != 0) {
        free(next);
        return JZCARD_E_CRYPTO;
    }
    if (next->n_pending == JZCARD_PENDING_MAX) {
        memmove(next->pending, next->pending + 1,
                (JZCARD_PENDING_MAX - 1) * sizeof next->pending[0]);
        next->n_pending--;
    }
    memcpy(next->pending[next->n_pending].nonce, ch.nonce, 16);
    next->pending[next->n_pending].amount = amount;
    next->n_pending++;
    int rc = card_commit(c, next);
    if (rc == JZCARD_OK) {
        voucher_challenge_encode(&ch, out);
    }
    return rc;
}

/* The payer's checks of a challenge against its rules (first failing rule decides). */
static int pay_check(const jzcard *c, const struct voucher_challenge *ch, int64_t now_ms)
{
    const struct state *s = &c->st;
    if (s->status != JZCARD_ACTIVE) {
        return JZCARD_E_STATE;
    }
    if (!valid_now(c, now_ms)) {
        return JZCARD_E_EXPIRED;
    }
    if (jz_id_eq(&ch->payee, &s->id)) {
        return JZCARD_E_INPUT;
    }
    if (ch->amount > c->ext.per_payment) {
        return JZCARD_E_PER_PAYMENT;
    }
    if (ch->amount > c->ext.offline_total - s->since_total) {
        return JZCARD_E_OFFLINE_TOTAL;
    }
    if (s->since_count >= c->ext.offline_count) {
        return JZCARD_E_OFFLINE_COUNT;
    }
    if (ch->amount > s->balance) {
        return JZCARD_E_BALANCE;
    }
    if (s->n_sent == JZCARD_SENT_MAX || s->counter == UINT32_MAX) {
        return JZCARD_E_FULL;
    }
    return JZCARD_OK;
}

int jzcard_pay(jzcard *c, const uint8_t *challenge, size_t len, int64_t now_ms, uint8_t *out,
               size_t cap, size_t *out_len)
{
    struct voucher_challenge ch;
    if (voucher_challenge_decode(challenge, len, &ch) != 0) {
        return JZCARD_E_INPUT;
    }
    int rc = pay_check(c, &ch, now_ms);
    if (rc != JZCARD_OK) {
        return rc;
    }
    struct voucher v = {.payer = c->st.id, .counter = c->st.counter + 1, .payee = ch.payee,
                        .amount = ch.amount, .time_ms = now_ms};
    memcpy(v.nonce, ch.nonce, 16);
    memcpy(v.prev, c->st.last_hash, sizeof v.prev);
    struct state *next = state_copy(c);
    if (!next) {
        return JZCARD_E_IO;
    }
    struct stored *st = &next->sent[next->n_sent];
    size_t sig_len = 0;
    voucher_encode(&v, st->body);
    if (crypto_sm2_sign(c->key, st->body, VOUCHER_BODY_BYTES, st->sig, &sig_len) != 0 ||
        voucher_hash(st->body, next->last_hash) != 0) {
        free(next);
        return JZCARD_E_CRYPTO;
    }
    st->sig_len = (uint8_t)sig_len;
    st->cert_len = 0;
    struct voucher_payment p = {.body = st->body, .sig = st->sig, .sig_len = sig_len,
                                .cert = c->st.cert, .cert_len = c->st.cert_len,
                                .ca = c->st.ca, .ca_len = c->st.ca_len};
    size_t n = voucher_payment_encode(&p, out, cap);
    if (n == 0) {
        free(next);
        return JZCARD_E_INPUT;
    }
    next->n_sent++;
    next->counter = v.counter;
    next->balance -= v.amount;
    next->since_total += v.amount;
    next->since_count++;
    ASSERT(next->balance >= 0 && next->since_total <= c->ext.offline_total);
    rc = card_commit(c, next);
    if (rc == JZCARD_OK) {
        *out_len = n;
    }
    return rc;
}

/* The payer's certificate: chains to our root through its CA, valid at the voucher's time
 * and now, names the payer, not revoked. */
static int payer_check(const jzcard *c, const struct voucher_payment *p, const struct voucher *v,
                       int64_t now_ms, crypto_cert **cert_out)
{
    crypto_cert *cert = NULL, *ca = NULL;
    struct crypto_card_ext ext;
    int rc = JZCARD_E_CERT;
    if (crypto_cert_from_der(p->cert, p->cert_len, &cert) != 0 ||
        crypto_cert_from_der(p->ca, p->ca_len, &ca) != 0 ||
        crypto_cert_card_ext(cert, &ext) != 0 || memcmp(ext.card_id, v->payer.b, 16) != 0) {
        goto done;
    }
    const crypto_cert *mid[1] = {ca};
    if (crypto_cert_verify_chain(c->root, mid, 1, cert, now_ms) != 0 ||
        crypto_cert_verify_chain(c->root, mid, 1, cert, v->time_ms) != 0) {
        goto done;
    }
    rc = JZCARD_OK;
    for (uint32_t i = 0; i < c->st.n_revoked; i++) {
        if (jz_id_eq(&c->st.revoked[i], &v->payer)) {
            rc = JZCARD_E_REVOKED;
        }
    }
done:
    crypto_cert_free(ca);
    if (rc == JZCARD_OK) {
        *cert_out = cert;
    } else {
        crypto_cert_free(cert);
    }
    return rc;
}

/* The voucher against what this card already holds from the same payer: never one it has,
 * never an older counter, and chained to the one just before when it holds that. */
static int chain_check(const struct state *s, const struct voucher *v)
{
    for (uint32_t i = 0; i < s->n_received; i++) {
        struct voucher w;
        uint8_t h[CRYPTO_SM3_BYTES];
        if (voucher_decode(s->received[i].body, VOUCHER_BODY_BYTES, &w) != 0 ||
            !jz_id_eq(&w.payer, &v->payer)) {
            continue;
        }
        if (w.counter >= v->counter) {
            return JZCARD_E_REPLAY;
        }
        if (w.counter + 1 == v->counter &&
            (voucher_hash(s->received[i].body, h) != 0 || memcmp(h, v->prev, sizeof h) != 0)) {
            return JZCARD_E_INPUT;
        }
    }
    return JZCARD_OK;
}

static int find_pending(const struct state *s, const struct voucher *v)
{
    for (uint32_t i = 0; i < s->n_pending; i++) {
        if (crypto_memcmp(s->pending[i].nonce, v->nonce, 16) == 0 &&
            s->pending[i].amount == v->amount) {
            return (int)i;
        }
    }
    return -1;
}

int jzcard_accept(jzcard *c, const uint8_t *payment, size_t len, int64_t now_ms,
                  struct voucher *accepted)
{
    struct voucher_payment p;
    struct voucher v;
    crypto_cert *cert = NULL;
    if (c->st.status != JZCARD_ACTIVE) {
        return JZCARD_E_STATE;
    }
    if (voucher_payment_decode(payment, len, &p) != 0 ||
        voucher_decode(p.body, VOUCHER_BODY_BYTES, &v) != 0) {
        return JZCARD_E_INPUT;
    }
    if (!jz_id_eq(&v.payee, &c->st.id)) {
        return JZCARD_E_NOT_FOR_ME;
    }
    int pending = find_pending(&c->st, &v);
    if (pending < 0) {
        return JZCARD_E_CHALLENGE;
    }
    int rc = payer_check(c, &p, &v, now_ms, &cert);
    if (rc != JZCARD_OK) {
        return rc;
    }
    rc = voucher_verify(crypto_cert_key(cert), p.body, p.sig, p.sig_len) == 0
             ? chain_check(&c->st, &v) : JZCARD_E_SIGNATURE;
    crypto_cert_free(cert);
    if (rc == JZCARD_OK && c->st.n_received == JZCARD_RECEIVED_MAX) {
        rc = JZCARD_E_FULL;
    }
    struct state *next = rc == JZCARD_OK ? state_copy(c) : NULL;
    if (rc != JZCARD_OK || !next) {
        return rc != JZCARD_OK ? rc : JZCARD_E_IO;
    }
    struct stored *st = &next->received[next->n_received++];
    memcpy(st->body, p.body, VOUCHER_BODY_BYTES);
    memcpy(st->sig, p.sig, p.sig_len);
    st->sig_len = (uint8_t)p.sig_len;
    memcpy(st->cert, p.cert, p.cert_len);
    st->cert_len = (uint16_t)p.cert_len;
    memmove(&next->pending[pending], &next->pending[pending + 1],
            (next->n_pending - (uint32_t)pending - 1) * sizeof next->pending[0]);
    next->n_pending--;
    rc = card_commit(c, next);
    if (rc == JZCARD_OK && accepted) {
        *accepted = v;
    }
    return rc;
}

/* ---- sync ---- */

uint32_t jzcard_upload_count(const jzcard *c)
{
    return c->st.n_sent + c->st.n_received;
}

int jzcard_upload_at(const jzcard *c, uint32_t i, struct jzcard_upload *out)
{
    const struct state *s = &c->st;
    if (i >= s->n_sent + s->n_received) {
        return JZCARD_E_INPUT;
    }
    bool sent = i < s->n_sent;
    const struct stored *st = sent ? &s->sent[i] : &s->received[i - s->n_sent];
    out->body = st->body;
    out->sig = st->sig;
    out->sig_len = st->sig_len;
    out->cert = sent ? s->cert : st->cert;
    out->cert_len = sent ? s->cert_len : st->cert_len;
    out->sent = sent;
    return JZCARD_OK;
}

/* Keeps the entries of a[0..*n) whose done flag is false. */
static void drop_done(struct stored *a, uint32_t *n, const bool *done)
{
    uint32_t k = 0;
    for (uint32_t i = 0; i < *n; i++) {
        if (!done[i]) {
            if (k != i) {
                a[k] = a[i];
            }
            k++;
        }
    }
    *n = k;
}

int jzcard_sync_done(jzcard *c, const bool *done, uint32_t n_done, const jz_id *revoked,
                     size_t n_revoked)
{
    if (c->st.status == JZCARD_BLANK) {
        return JZCARD_E_STATE;
    }
    if (n_done != jzcard_upload_count(c)) {
        return JZCARD_E_INPUT;
    }
    struct state *next = state_copy(c);
    if (!next) {
        return JZCARD_E_IO;
    }
    uint32_t n_sent = next->n_sent;
    drop_done(next->sent, &next->n_sent, done);
    drop_done(next->received, &next->n_received, done + n_sent);
    next->since_total = 0;
    next->since_count = 0;
    /* The newest entries are kept when the list is longer than the card's store. */
    size_t skip = n_revoked > JZCARD_REVOKED_MAX ? n_revoked - JZCARD_REVOKED_MAX : 0;
    next->n_revoked = (uint32_t)(n_revoked - skip);
    if (next->n_revoked) {
        memcpy(next->revoked, revoked + skip, next->n_revoked * sizeof *revoked);
    }
    return card_commit(c, next);
}
