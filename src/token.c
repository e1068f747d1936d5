/*
 * token.c: the payment-token vault (see token.h and docs/tokens.md).
 */
#include "token.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crypto.h"
#include "limits.h"

#define DAY_MS (24LL * 3600 * 1000)
#define UTC8_MS (8LL * 3600 * 1000)
#define LOOKUP_KEY_BYTES 32
/* The plain card record: length byte, up to 19 ASCII digits (zero-padded), expiry YYMM. Fixed
 * size, so the sealed record does not reveal the card number's length. */
#define RECORD_BYTES TOKEN_RECORD_BYTES
#define SEALED_BYTES (RECORD_BYTES + CRYPTO_SEAL_OVERHEAD)
#define KEK_BYTES CRYPTO_SEAL_KEY_BYTES
#define PATH_MAX_BYTES 1100
_Static_assert(SEALED_BYTES <= VAULT_SEALED_MAX, "a sealed record fits its column");
_Static_assert(CRYPTO_SEAL_KEY_BYTES + CRYPTO_SEAL_OVERHEAD <= VAULT_WRAPPED_MAX,
               "a wrapped key fits its column");

/* ---- Configuration ---- */

void token_config_default(struct token_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->prefix, sizeof cfg->prefix, "990000");
    cfg->length_min = 16;
    cfg->burst_count = 100;
    cfg->burst_window_ms = 60000;
    cfg->rotate_batch = 256;
    cfg->rotate_pause_ms = 5;
}

static bool all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
    }
    return true;
}

int token_config_check(const struct token_config *cfg, char *err, size_t err_len)
{
    size_t p = strlen(cfg->prefix);
    const char *why = NULL;
    if (p < 1 || p > TOKEN_PREFIX_MAX || !all_digits(cfg->prefix, p)) {
        why = "token_prefix must be 1-8 digits";
    } else if (cfg->length_min < TOKEN_PAN_MIN || cfg->length_min > TOKEN_LEN_MAX ||
               cfg->length_min < p + 6) {
        why = "token_length_min must be 13-19 and leave 6 digits after the prefix";
    } else if (cfg->burst_count < 1 || cfg->burst_count > TOKEN_BURST_MAX) {
        why = "detokenize_burst must be 1-10000";
    } else if (cfg->burst_window_ms < 1 || cfg->burst_window_ms > DAY_MS) {
        why = "detokenize_window_ms must be 1-86400000";
    } else if (cfg->rotate_batch < 1 || cfg->rotate_batch > 10000) {
        why = "rotate_batch must be 1-10000";
    } else if (cfg->rotate_pause_ms > 60000) {
        why = "rotate_pause_ms must be 0-60000";
    }
    if (why) {
        snprintf(err, err_len, "%s", why);
        return -1;
    }
    return 0;
}

/* Sets one "key = value" of tokens.conf; -1 for an unknown key or a malformed number. */
static int config_set(struct token_config *cfg, const char *key, const char *value)
{
    if (strcmp(key, "token_prefix") == 0) {
        return snprintf(cfg->prefix, sizeof cfg->prefix, "%s", value) < (int)sizeof cfg->prefix
                   ? 0 : -1;
    }
    if (strcmp(key, "kek_file") == 0) {
        return snprintf(cfg->kek_path, sizeof cfg->kek_path, "%s", value) <
                       (int)sizeof cfg->kek_path ? 0 : -1;
    }
    char *end = NULL;
    errno = 0;
    unsigned long long n = strtoull(value, &end, 10);
    if (errno != 0 || end == value || *end != '\0' || value[0] == '-' || n > 1000000000ULL) {
        return -1;
    }
    if (strcmp(key, "token_length_min") == 0) {
        cfg->length_min = (uint32_t)n;
    } else if (strcmp(key, "detokenize_burst") == 0) {
        cfg->burst_count = (uint32_t)n;
    } else if (strcmp(key, "detokenize_window_ms") == 0) {
        cfg->burst_window_ms = (int64_t)n;
    } else if (strcmp(key, "rotate_batch") == 0) {
        cfg->rotate_batch = (uint32_t)n;
    } else if (strcmp(key, "rotate_pause_ms") == 0) {
        cfg->rotate_pause_ms = (uint32_t)n;
    } else {
        return -1;
    }
    return 0;
}

int token_config_read(const char *dir, struct token_config *cfg, char *err, size_t err_len)
{
    char path[PATH_MAX_BYTES];
    snprintf(path, sizeof path, "%s/tokens.conf", dir);
    FILE *f = fopen(path, "r");
    if (!f && errno == ENOENT) {
        return token_config_check(cfg, err, err_len);
    }
    if (!f) {
        snprintf(err, err_len, "%s: %s", path, strerror(errno));
        return -1;
    }
    char line[1200];
    int lineno = 0;
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        char key[64];
        char value[1100];
        lineno++;
        if (line[0] == '#' || line[strspn(line, " \t\r\n")] == '\0') {
            continue;
        }
        if (sscanf(line, " %63[a-z_] = %1099s", key, value) != 2 ||
            config_set(cfg, key, value) != 0) {
            snprintf(err, err_len, "%s:%d: not a valid setting", path, lineno);
            rc = -1;
        }
    }
    fclose(f);
    if (rc == 0 && token_config_check(cfg, err, err_len) != 0) {
        char why[200];
        snprintf(why, sizeof why, "%s", err);
        snprintf(err, err_len, "%s: %s", path, why);
        rc = -1;
    }
    return rc;
}

/* ---- Pure helpers ---- */

bool token_luhn_valid(const char *s, size_t n)
{
    int sum = 0;
    for (size_t i = 0; i < n; i++) {
        int d = s[n - 1 - i] - '0';
        if (d < 0 || d > 9) {
            return false;
        }
        if (i % 2 == 1) {
            d = d * 2 > 9 ? d * 2 - 9 : d * 2;
        }
        sum += d;
    }
    return n > 0 && sum % 10 == 0;
}

int token_pan_check(const char *pan)
{
    size_t n = pan ? strnlen(pan, TOKEN_PAN_MAX + 1) : 0;
    if (n < TOKEN_PAN_MIN || n > TOKEN_PAN_MAX || !all_digits(pan, n) ||
        !token_luhn_valid(pan, n)) {
        return JZ_INVALID_PAN;
    }
    return JZ_OK;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (H. Hinnant's
 * days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int token_expiry_parse(const char *yymm, int64_t now_ms, int64_t *expires_at)
{
    if (!yymm || strnlen(yymm, 5) != 4 || !all_digits(yymm, 4)) {
        return JZ_INVALID_EXPIRY;
    }
    int year = 2000 + (yymm[0] - '0') * 10 + (yymm[1] - '0');
    int month = (yymm[2] - '0') * 10 + (yymm[3] - '0');
    if (month < 1 || month > 12) {
        return JZ_INVALID_EXPIRY;
    }
    /* A card is good through its expiry month: it ends when the next month starts (UTC+8). */
    int64_t end = days_from_civil(month == 12 ? year + 1 : year, month == 12 ? 1 : month + 1, 1) *
                      DAY_MS - UTC8_MS;
    if (end <= now_ms || end - now_ms > TOKEN_EXPIRY_YEARS_MAX * 366 * DAY_MS) {
        return JZ_INVALID_EXPIRY;
    }
    *expires_at = end;
    return JZ_OK;
}

/* Uniformly random decimal digits (bytes >= 250 are drawn again). */
static int random_digits(char *out, size_t n)
{
    uint8_t buf[64];
    size_t have = 0;
    size_t used = sizeof buf;
    while (have < n) {
        if (used == sizeof buf) {
            if (crypto_random(buf, sizeof buf) != 0) {
                return -1;
            }
            used = 0;
        }
        uint8_t b = buf[used++];
        if (b < 250) {
            out[have++] = (char)('0' + b % 10);
        }
    }
    crypto_wipe(buf, sizeof buf);
    return 0;
}

int token_generate(const struct token_config *cfg, const char *pan, char out[TOKEN_LEN_MAX + 1])
{
    size_t pan_len = strlen(pan);
    size_t p = strlen(cfg->prefix);
    size_t n = pan_len > cfg->length_min ? pan_len : cfg->length_min;
    ASSERT(pan_len >= 4 && n <= TOKEN_LEN_MAX && p + 6 <= n);
    char t[TOKEN_LEN_MAX + 1];
    for (int attempt = 0; attempt < TOKEN_GENERATE_TRIES; attempt++) {
        memcpy(t, cfg->prefix, p);
        memcpy(t + n - 4, pan + pan_len - 4, 4);
        t[n] = '\0';
        /* Random digits between the prefix and the last four, but for the one just before
         * the last four: odd from the right, so it adds itself to the Luhn sum, and choosing
         * it makes the sum a multiple of ten. */
        if (random_digits(t + p, n - p - 5) != 0) {
            return -1;
        }
        t[n - 5] = '0';
        int sum = 0;
        for (size_t i = 0; i < n; i++) {
            int d = t[n - 1 - i] - '0';
            sum += i % 2 == 1 ? (d * 2 > 9 ? d * 2 - 9 : d * 2) : d;
        }
        t[n - 5] = (char)('0' + (10 - sum % 10) % 10);
        ASSERT(token_luhn_valid(t, n));
        /* Never the card number, nor a number that holds it. */
        if (strstr(t, pan) == NULL) {
            memcpy(out, t, n + 1);
            return 0;
        }
    }
    return -1;
}

void token_id_of(const char *token, jz_id *out)
{
    char label[48];
    uint8_t h[CRYPTO_SM3_BYTES];
    int len = snprintf(label, sizeof label, "jiaozi/token/%s", token);
    ASSERT(len > 0 && (size_t)len < sizeof label && crypto_sm3(label, (size_t)len, h) == 0);
    memcpy(out->b, h, sizeof out->b);
}

bool token_channel_valid(const char *channel)
{
    size_t n = strnlen(channel, TOKEN_CHANNEL_MAX + 1);
    if (n < 1 || n > TOKEN_CHANNEL_MAX) {
        return false;
    }
    return strspn(channel, "abcdefghijklmnopqrstuvwxyz0123456789_.:-") == n;
}

bool token_institution_valid(const char *id)
{
    size_t n = strnlen(id, VAULT_INST_MAX + 1);
    return n >= 1 && n <= VAULT_INST_MAX &&
           strspn(id, "abcdefghijklmnopqrstuvwxyz0123456789_") == n;
}

static const char *const status_names[] = {"", "active", "suspended", "deleted"};

const char *token_status_name(int status)
{
    return status >= TOKEN_ACTIVE && status <= TOKEN_DELETED ? status_names[status] : "";
}

int token_status_parse(const char *s)
{
    for (int i = TOKEN_ACTIVE; i <= TOKEN_DELETED; i++) {
        if (strcmp(s, status_names[i]) == 0) {
            return i;
        }
    }
    return 0;
}

/* ---- The vault ---- */

struct data_key {
    uint32_t version;
    uint8_t key[CRYPTO_SEAL_KEY_BYTES];
};

/* One requestor's recent detokenisations: a ring of the last burst_count, with the issuer of
 * each token, so an alert can say whose cards were asked for. */
struct burst_entry {
    int64_t at;
    char issuer[VAULT_INST_MAX + 1];
};

struct burst {
    char requestor[VAULT_INST_MAX + 1];
    struct burst_entry *ring; /* burst_count entries */
    uint32_t head;            /* next slot to write */
    uint32_t count;
    int64_t quiet_until; /* no second alert for the same burst */
};

struct token_vault {
    char dir[1024];
    struct token_config cfg;
    vault_store *store;
    pthread_mutex_t mu;       /* store, keys, bursts, rotation cursor */
    pthread_mutex_t write_mu; /* tokenise, status change, rotation start: one at a time */
    uint8_t lookup[LOOKUP_KEY_BYTES];
    struct data_key keys[TOKEN_KEYS_MAX];
    size_t nkeys;
    uint32_t current; /* version sealing new records */
    int bulk;         /* inside token_bulk_begin */
    char reseal_after[TOKEN_LEN_MAX + 1];
    struct burst bursts[JZ_INSTITUTIONS_MAX];
    size_t nbursts;
    /* The rotation worker. */
    pthread_mutex_t worker_mu;
    pthread_cond_t worker_cond;
    pthread_t worker;
    bool worker_started;
    _Atomic bool worker_running; /* also read without worker_mu */
    bool worker_stop;
    token_journal_fn worker_journal;
    void *worker_ctx;
    _Atomic uint64_t n_tokenized, n_detokenized, n_refused, n_alerts, n_collisions, n_resealed;
};

const struct token_config *token_vault_config(const token_vault *v)
{
    return &v->cfg;
}

/* ---- The key-encryption key: its own file, read when needed and wiped after ---- */

static void kek_path(const token_vault *v, char *out, size_t n)
{
    if (v->cfg.kek_path[0]) {
        snprintf(out, n, "%s", v->cfg.kek_path);
    } else {
        snprintf(out, n, "%s/vault.kek", v->dir);
    }
}

static int kek_read(const token_vault *v, uint8_t kek[KEK_BYTES], char *err, size_t err_len)
{
    char path[PATH_MAX_BYTES];
    struct stat st;
    kek_path(v, path, sizeof path);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    const char *why = NULL;
    if (fd < 0) {
        why = "cannot be opened (the vault's keys cannot be unwrapped without it)";
    } else if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size != KEK_BYTES) {
        why = "is not a 48-byte file";
    } else if ((st.st_mode & 077) != 0) {
        why = "is readable by group or others: chmod 600 it";
    } else if (pread(fd, kek, KEK_BYTES, 0) != KEK_BYTES) {
        why = "cannot be read";
    }
    if (fd >= 0) {
        close(fd);
    }
    if (why) {
        crypto_wipe(kek, KEK_BYTES);
        snprintf(err, err_len, "%s %s", path, why);
        return -1;
    }
    return 0;
}

/* Creates the KEK file (never replacing one): mode 0600, synced with its directory. */
static int kek_create(const token_vault *v, char *err, size_t err_len)
{
    char path[PATH_MAX_BYTES];
    uint8_t kek[KEK_BYTES];
    kek_path(v, path, sizeof path);
    int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0600);
    int rc = fd >= 0 && crypto_random(kek, sizeof kek) == 0 &&
                     pwrite(fd, kek, sizeof kek, 0) == (ssize_t)sizeof kek && fsync(fd) == 0
                 ? 0 : -1;
    crypto_wipe(kek, sizeof kek);
    if (fd >= 0) {
        close(fd);
    }
    char parent[PATH_MAX_BYTES];
    snprintf(parent, sizeof parent, "%s", path);
    char *slash = strrchr(parent, '/');
    if (rc == 0 && slash) {
        *slash = '\0';
        int dfd = open(parent[0] ? parent : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        rc = dfd >= 0 && fsync(dfd) == 0 ? 0 : -1;
        if (dfd >= 0) {
            close(dfd);
        }
    }
    if (rc != 0) {
        snprintf(err, err_len, "%s: cannot create the key-encryption key: %s", path,
                 strerror(errno));
    }
    return rc;
}

/* Associated data of a wrapped key: what it is and its version. */
static void key_aad(uint8_t purpose, uint32_t version, uint8_t aad[24])
{
    memcpy(aad, "jiaozi/vault/key/", 17);
    aad[17] = purpose;
    aad[18] = (uint8_t)version;
    aad[19] = (uint8_t)(version >> 8);
    aad[20] = (uint8_t)(version >> 16);
    aad[21] = (uint8_t)(version >> 24);
    aad[22] = 0;
    aad[23] = 0;
}

static int key_wrap(const uint8_t kek[KEK_BYTES], uint8_t purpose, uint32_t version,
                    const uint8_t *key, size_t len, int64_t now, struct vault_key_row *out)
{
    uint8_t aad[24];
    key_aad(purpose, version, aad);
    memset(out, 0, sizeof *out);
    out->purpose = purpose;
    out->version = version;
    out->wrapped_len = len + CRYPTO_SEAL_OVERHEAD;
    out->created_at = now;
    return crypto_seal(kek, aad, sizeof aad, key, len, out->wrapped);
}

static int key_unwrap(const uint8_t kek[KEK_BYTES], const struct vault_key_row *k, uint8_t *key,
                      size_t len)
{
    uint8_t aad[24];
    key_aad(k->purpose, k->version, aad);
    if (k->wrapped_len != len + CRYPTO_SEAL_OVERHEAD) {
        return -1;
    }
    return crypto_unseal(kek, aad, sizeof aad, k->wrapped, k->wrapped_len, key);
}

static struct data_key *key_find(token_vault *v, uint32_t version)
{
    for (size_t i = 0; i < v->nkeys; i++) {
        if (v->keys[i].version == version) {
            return &v->keys[i];
        }
    }
    return NULL;
}

/* A fresh vault: lookup key and data key 1, wrapped under the KEK, in one transaction. */
static int keys_create(token_vault *v, int64_t now, char *err, size_t err_len)
{
    char path[PATH_MAX_BYTES];
    uint8_t kek[KEK_BYTES];
    struct vault_key_row rows[2];
    kek_path(v, path, sizeof path);
    if (access(path, F_OK) != 0 && kek_create(v, err, err_len) != 0) {
        return -1;
    }
    if (kek_read(v, kek, err, err_len) != 0) {
        return -1;
    }
    v->keys[0].version = 1;
    int rc = crypto_random(v->lookup, sizeof v->lookup) == 0 &&
                     crypto_random(v->keys[0].key, sizeof v->keys[0].key) == 0 &&
                     key_wrap(kek, VAULT_KEY_LOOKUP, 1, v->lookup, sizeof v->lookup, now,
                              &rows[0]) == 0 &&
                     key_wrap(kek, VAULT_KEY_DATA, 1, v->keys[0].key, sizeof v->keys[0].key, now,
                              &rows[1]) == 0
                 ? 0 : -1;
    crypto_wipe(kek, sizeof kek);
    if (rc == 0 && vault_store_begin(v->store) == 0) {
        rc = vault_store_key_put(v->store, &rows[0]) == 0 &&
                     vault_store_key_put(v->store, &rows[1]) == 0 &&
                     vault_store_commit(v->store) == 0
                 ? 0 : -1;
    } else {
        rc = -1;
    }
    if (rc != 0) {
        vault_store_rollback(v->store);
        snprintf(err, err_len, "cannot create the vault's keys");
        return -1;
    }
    v->nkeys = 1;
    v->current = 1;
    return 0;
}

/* An existing vault: every key unwrapped with the KEK, which is wiped afterwards. */
static int keys_load(token_vault *v, const struct vault_key_row *rows, size_t n, char *err,
                     size_t err_len)
{
    uint8_t kek[KEK_BYTES];
    bool have_lookup = false;
    if (kek_read(v, kek, err, err_len) != 0) {
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (rows[i].purpose == VAULT_KEY_LOOKUP && !have_lookup) {
            rc = key_unwrap(kek, &rows[i], v->lookup, sizeof v->lookup);
            have_lookup = true;
        } else if (rows[i].purpose == VAULT_KEY_DATA && v->nkeys < TOKEN_KEYS_MAX) {
            struct data_key *k = &v->keys[v->nkeys++];
            k->version = rows[i].version;
            rc = key_unwrap(kek, &rows[i], k->key, sizeof k->key);
            v->current = k->version > v->current ? k->version : v->current;
        } else {
            rc = -1;
        }
    }
    crypto_wipe(kek, sizeof kek);
    if (rc != 0 || !have_lookup || v->nkeys == 0) {
        snprintf(err, err_len, "the key-encryption key does not unwrap the vault's keys");
        return -1;
    }
    return 0;
}

static int64_t now_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int vault_keys_open(token_vault *v, char *err, size_t err_len)
{
    struct vault_key_row rows[TOKEN_KEYS_MAX + 2];
    size_t n = 0;
    int64_t now = now_wall_ms();
    if (vault_store_keys(v->store, rows, JZ_ARRAY_LEN(rows), &n) != 0 || n > JZ_ARRAY_LEN(rows)) {
        snprintf(err, err_len, "the vault's key table cannot be read");
        return -1;
    }
    int rc = n == 0 ? keys_create(v, now, err, err_len) : keys_load(v, rows, n, err, err_len);
    for (size_t i = 0; i < JZ_ARRAY_LEN(rows); i++) {
        crypto_wipe(rows[i].wrapped, sizeof rows[i].wrapped);
    }
    return rc;
}

int token_vault_open(const char *dir, const struct token_config *cfg, token_vault **out,
                     char *err, size_t err_len)
{
    if (token_config_check(cfg, err, err_len) != 0) {
        return -1;
    }
    token_vault *v = calloc(1, sizeof *v);
    if (!v) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    snprintf(v->dir, sizeof v->dir, "%s", dir);
    v->cfg = *cfg;
    pthread_mutex_init(&v->mu, NULL);
    pthread_mutex_init(&v->write_mu, NULL);
    pthread_mutex_init(&v->worker_mu, NULL);
    pthread_cond_init(&v->worker_cond, NULL);
    char path[PATH_MAX_BYTES];
    snprintf(path, sizeof path, "%s/vault.db", dir);
    if (vault_store_open(path, &v->store, err, err_len) != 0 ||
        vault_keys_open(v, err, err_len) != 0) {
        token_vault_close(v);
        return -1;
    }
    *out = v;
    return 0;
}

/* Tells the rotation worker to stop after its current step, and waits for it. */
static void worker_shutdown(token_vault *v)
{
    pthread_mutex_lock(&v->worker_mu);
    v->worker_stop = true;
    pthread_cond_broadcast(&v->worker_cond);
    pthread_mutex_unlock(&v->worker_mu);
    if (v->worker_started) {
        pthread_join(v->worker, NULL);
    }
}

void token_vault_close(token_vault *v)
{
    if (!v) {
        return;
    }
    worker_shutdown(v);
    vault_store_close(v->store);
    for (size_t i = 0; i < v->nbursts; i++) {
        free(v->bursts[i].ring);
    }
    crypto_wipe(v->keys, sizeof v->keys);
    crypto_wipe(v->lookup, sizeof v->lookup);
    pthread_mutex_destroy(&v->mu);
    pthread_mutex_destroy(&v->write_mu);
    pthread_mutex_destroy(&v->worker_mu);
    pthread_cond_destroy(&v->worker_cond);
    free(v);
}

/* ---- Card records ---- */

static void record_aad(const char *token, char aad[40], size_t *len)
{
    *len = (size_t)snprintf(aad, 40, "jiaozi/vault/pan/%s", token);
}

/* Seals pan and expiry under data key k for token into out (SEALED_BYTES). */
static int record_seal(const struct data_key *k, const char *token, const char *pan,
                       const char *expiry, uint8_t out[SEALED_BYTES])
{
    uint8_t plain[RECORD_BYTES] = {0};
    char aad[40];
    size_t aad_len;
    size_t n = strlen(pan);
    ASSERT(n <= TOKEN_PAN_MAX && strlen(expiry) == 4);
    plain[0] = (uint8_t)n;
    memcpy(plain + 1, pan, n);
    memcpy(plain + 20, expiry, 4);
    record_aad(token, aad, &aad_len);
    int rc = crypto_seal(k->key, aad, aad_len, plain, sizeof plain, out);
    crypto_wipe(plain, sizeof plain);
    return rc;
}

/* Opens a sealed record into pan (NUL-terminated) and, when not NULL, expiry. */
static int record_open(const struct data_key *k, const char *token, const uint8_t *sealed,
                       size_t len, char pan[TOKEN_PAN_MAX + 1], char expiry[5])
{
    uint8_t plain[RECORD_BYTES];
    char aad[40];
    size_t aad_len;
    record_aad(token, aad, &aad_len);
    if (len != SEALED_BYTES || crypto_unseal(k->key, aad, aad_len, sealed, len, plain) != 0 ||
        plain[0] < TOKEN_PAN_MIN || plain[0] > TOKEN_PAN_MAX) {
        crypto_wipe(plain, sizeof plain);
        return -1;
    }
    memcpy(pan, plain + 1, plain[0]);
    pan[plain[0]] = '\0';
    if (expiry) {
        memcpy(expiry, plain + 20, 4);
        expiry[4] = '\0';
    }
    crypto_wipe(plain, sizeof plain);
    return 0;
}

/* ---- Tokenise, read, change ---- */

static void info_from_row(const struct vault_token_row *r, int64_t now, struct token_info *out)
{
    memset(out, 0, sizeof *out);
    memcpy(out->token, r->token, sizeof out->token);
    token_id_of(r->token, &out->id);
    memcpy(out->last4, r->last4, sizeof out->last4);
    memcpy(out->expiry, r->expiry, sizeof out->expiry);
    out->expires_at = r->expires_at;
    out->expired = now >= r->expires_at;
    out->status = r->status;
    memcpy(out->issuer, r->issuer, sizeof out->issuer);
    out->wallet = r->wallet;
    memcpy(out->domain.requestor, r->requestor, sizeof out->domain.requestor);
    memcpy(out->domain.channel, r->channel, sizeof out->domain.channel);
    out->key_version = r->key_version;
    out->created_at = r->created_at;
    out->updated_at = r->updated_at;
}

/* Journals an event (none without a journal). 0, or -1 when it could not be. */
static int journal_event(token_journal_fn journal, void *jctx, uint8_t kind, const char *token,
                         const jz_id *wallet, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static int journal_event(token_journal_fn journal, void *jctx, uint8_t kind, const char *token,
                         const jz_id *wallet, const char *fmt, ...)
{
    if (!journal) {
        return 0;
    }
    struct token_event ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = kind;
    ev.number = kind;
    if (token) {
        token_id_of(token, &ev.subject);
    }
    if (wallet) {
        ev.other = *wallet;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ev.text, sizeof ev.text, fmt, ap);
    va_end(ap);
    return journal(jctx, &ev);
}

/* Store writes outside a bulk load commit on their own. */
static int write_begin(token_vault *v)
{
    return v->bulk ? 0 : vault_store_begin(v->store);
}

static int write_commit(token_vault *v)
{
    if (v->bulk) {
        return 0;
    }
    if (vault_store_commit(v->store) != 0) {
        vault_store_rollback(v->store);
        return -1;
    }
    return 0;
}

/* Picks a token number no row has (under v->mu). */
static int unique_token(token_vault *v, const char *pan, char out[TOKEN_LEN_MAX + 1])
{
    struct vault_token_row other;
    for (int i = 0; i < TOKEN_GENERATE_TRIES; i++) {
        if (token_generate(&v->cfg, pan, out) != 0) {
            return JZ_UNAVAILABLE;
        }
        int rc = vault_store_token_get(v->store, out, &other);
        if (rc == 1) {
            return JZ_OK;
        }
        if (rc != 0) {
            return JZ_UNAVAILABLE;
        }
        atomic_fetch_add(&v->n_collisions, 1);
    }
    return JZ_TOKEN_RANGE_EXHAUSTED;
}

static int check_request(const struct token_request *rq, int64_t now, int64_t *expires_at,
                         const char **field)
{
    if (token_pan_check(rq->pan) != JZ_OK) {
        *field = "pan";
        return JZ_INVALID_PAN;
    }
    if (token_expiry_parse(rq->expiry, now, expires_at) != JZ_OK) {
        *field = "expiry";
        return JZ_INVALID_EXPIRY;
    }
    if (!token_institution_valid(rq->issuer)) {
        *field = "issuer";
        return JZ_INVALID_FIELD;
    }
    if (!token_institution_valid(rq->domain.requestor)) {
        *field = "domain.requestor";
        return JZ_INVALID_FIELD;
    }
    if (!token_channel_valid(rq->domain.channel)) {
        *field = "domain.channel";
        return JZ_INVALID_FIELD;
    }
    return JZ_OK;
}

/* Under v->mu: the existing token of the card in this issuer and domain, or a new row
 * (not yet stored) in *row. *found says which. */
static int prepare_token(token_vault *v, const struct token_request *rq, int64_t now,
                         int64_t expires_at, struct vault_token_row *row, bool *found)
{
    uint8_t mac[CRYPTO_SM3_BYTES];
    struct vault_token_row probe;
    if (crypto_hmac_sm3(v->lookup, sizeof v->lookup, rq->pan, strlen(rq->pan), mac) != 0) {
        return JZ_UNAVAILABLE;
    }
    int rc = vault_store_token_get(v->store, rq->pan, &probe);
    crypto_wipe(probe.sealed, sizeof probe.sealed);
    if (rc == 0) {
        return JZ_INVALID_PAN; /* one of our tokens, not a card */
    }
    rc = rc < 0 ? -1
                : vault_store_token_find_card(v->store, mac, rq->issuer, rq->domain.requestor,
                                              rq->domain.channel, row);
    *found = rc == 0;
    if (rc != 1) {
        return rc == 0 ? JZ_OK : JZ_UNAVAILABLE;
    }
    memset(row, 0, sizeof *row);
    rc = unique_token(v, rq->pan, row->token);
    if (rc != JZ_OK) {
        return rc;
    }
    size_t n = strlen(rq->pan);
    row->has_secret = true;
    memcpy(row->pan_mac, mac, sizeof mac);
    snprintf(row->issuer, sizeof row->issuer, "%s", rq->issuer);
    row->wallet = rq->wallet;
    memcpy(&row->requestor, rq->domain.requestor, sizeof row->requestor);
    memcpy(&row->channel, rq->domain.channel, sizeof row->channel);
    memcpy(row->last4, rq->pan + n - 4, 5);
    memcpy(row->expiry, rq->expiry, 5);
    row->expires_at = expires_at;
    row->status = TOKEN_ACTIVE;
    row->key_version = v->current;
    row->sealed_len = SEALED_BYTES;
    row->created_at = now;
    row->updated_at = now;
    return record_seal(key_find(v, v->current), row->token, rq->pan, rq->expiry, row->sealed) == 0
               ? JZ_OK : JZ_UNAVAILABLE;
}

static int store_new_token(token_vault *v, const struct vault_token_row *row)
{
    pthread_mutex_lock(&v->mu);
    int rc = write_begin(v) == 0 && vault_store_token_insert(v->store, row) == 0 &&
                     write_commit(v) == 0
                 ? JZ_OK : JZ_UNAVAILABLE;
    if (rc != JZ_OK && !v->bulk) {
        vault_store_rollback(v->store);
    }
    pthread_mutex_unlock(&v->mu);
    return rc;
}

int token_tokenize(token_vault *v, const struct token_request *rq, int64_t now_ms,
                   token_journal_fn journal, void *jctx, struct token_info *out, bool *created,
                   const char **field)
{
    struct vault_token_row row;
    int64_t expires_at = 0;
    bool found = false;
    *field = "";
    int rc = check_request(rq, now_ms, &expires_at, field);
    if (rc != JZ_OK) {
        return rc;
    }
    pthread_mutex_lock(&v->write_mu);
    pthread_mutex_lock(&v->mu);
    rc = prepare_token(v, rq, now_ms, expires_at, &row, &found);
    pthread_mutex_unlock(&v->mu);
    if (rc == JZ_INVALID_PAN) {
        *field = "pan";
    } else if (rc == JZ_OK && found) {
        /* The card already has a token here: the same one again, or a conflict. */
        if (!jz_id_eq(&row.wallet, &rq->wallet)) {
            *field = "wallet";
            rc = JZ_ID_CONFLICT;
        } else if (strcmp(row.expiry, rq->expiry) != 0) {
            *field = "expiry";
            rc = JZ_ID_CONFLICT;
        }
    } else if (rc == JZ_OK) {
        rc = journal_event(journal, jctx, TOKEN_EVENT_TOKENIZE, row.token, &row.wallet,
                           "op=tokenize by=%s requestor=%s channel=%s key=%u", row.issuer,
                           row.requestor, row.channel, (unsigned)row.key_version) == 0
                 ? store_new_token(v, &row) : JZ_UNAVAILABLE;
        if (rc == JZ_OK) {
            atomic_fetch_add(&v->n_tokenized, 1);
        }
    }
    pthread_mutex_unlock(&v->write_mu);
    if (rc == JZ_OK) {
        info_from_row(&row, now_ms, out);
        *created = !found;
    }
    crypto_wipe(row.sealed, sizeof row.sealed);
    return rc;
}

static int get_row(token_vault *v, const char *token, struct vault_token_row *row)
{
    if (strnlen(token, TOKEN_LEN_MAX + 1) > TOKEN_LEN_MAX) {
        return JZ_TOKEN_NOT_FOUND;
    }
    int rc = vault_store_token_get(v->store, token, row);
    return rc == 0 ? JZ_OK : rc == 1 ? JZ_TOKEN_NOT_FOUND : JZ_UNAVAILABLE;
}

int token_get(token_vault *v, const char *token, int64_t now_ms, struct token_info *out)
{
    struct vault_token_row row;
    pthread_mutex_lock(&v->mu);
    int rc = get_row(v, token, &row);
    pthread_mutex_unlock(&v->mu);
    if (rc == JZ_OK) {
        info_from_row(&row, now_ms, out);
    }
    crypto_wipe(row.sealed, sizeof row.sealed);
    return rc;
}

/* Whether `from` may become `to` (no change is JZ_OK, decided by the caller). */
static int transition(const struct vault_token_row *r, int to, int64_t now)
{
    if (to < TOKEN_ACTIVE || to > TOKEN_DELETED) {
        return JZ_INVALID_FIELD;
    }
    if (r->status == TOKEN_DELETED) {
        return JZ_TOKEN_DELETED;
    }
    if (to == TOKEN_ACTIVE && now >= r->expires_at) {
        return JZ_TOKEN_EXPIRED;
    }
    return JZ_OK;
}

int token_set_status(token_vault *v, const char *token, const char *caller, int status,
                     int64_t now_ms, token_journal_fn journal, void *jctx,
                     struct token_info *out)
{
    struct vault_token_row row;
    pthread_mutex_lock(&v->write_mu);
    pthread_mutex_lock(&v->mu);
    int rc = get_row(v, token, &row);
    pthread_mutex_unlock(&v->mu);
    bool change = false;
    if (rc == JZ_OK && strcmp(row.issuer, caller) != 0) {
        rc = JZ_FORBIDDEN;
    } else if (rc == JZ_OK && row.status != status) {
        rc = transition(&row, status, now_ms);
        change = rc == JZ_OK;
    }
    if (change) {
        rc = journal_event(journal, jctx, TOKEN_EVENT_STATUS, row.token, &row.wallet,
                           "op=status by=%s from=%s to=%s", caller, token_status_name(row.status),
                           token_status_name(status)) == 0
                 ? JZ_OK : JZ_UNAVAILABLE;
    }
    if (change && rc == JZ_OK) {
        pthread_mutex_lock(&v->mu);
        bool forget = status == TOKEN_DELETED;
        rc = write_begin(v) == 0 &&
                     vault_store_token_set_status(v->store, token, (uint8_t)status, now_ms,
                                                  forget) == 0 &&
                     write_commit(v) == 0
                 ? JZ_OK : JZ_UNAVAILABLE;
        if (rc != JZ_OK && !v->bulk) {
            vault_store_rollback(v->store);
        }
        rc = rc == JZ_OK ? get_row(v, token, &row) : rc;
        pthread_mutex_unlock(&v->mu);
    }
    pthread_mutex_unlock(&v->write_mu);
    if (rc == JZ_OK && out) {
        info_from_row(&row, now_ms, out);
    }
    crypto_wipe(row.sealed, sizeof row.sealed);
    return rc;
}

/* ---- Detokenise, and bursts ---- */

static struct burst *burst_of(token_vault *v, const char *requestor)
{
    for (size_t i = 0; i < v->nbursts; i++) {
        if (strcmp(v->bursts[i].requestor, requestor) == 0) {
            return &v->bursts[i];
        }
    }
    if (v->nbursts == JZ_ARRAY_LEN(v->bursts)) {
        return NULL;
    }
    struct burst *b = &v->bursts[v->nbursts];
    b->ring = calloc(v->cfg.burst_count, sizeof *b->ring);
    if (!b->ring) {
        return NULL;
    }
    snprintf(b->requestor, sizeof b->requestor, "%s", requestor);
    v->nbursts++;
    return b;
}

/* Appends issuer to the comma-separated list unless it is there or the list is full. */
static void issuers_add(char *list, size_t cap, size_t *named, const char *issuer)
{
    char probe[VAULT_INST_MAX + 3];
    char padded[VAULT_ISSUERS_TEXT_MAX + 3];
    snprintf(probe, sizeof probe, ",%s,", issuer);
    snprintf(padded, sizeof padded, ",%s,", list);
    if (!issuer[0] || strstr(padded, probe) || *named >= TOKEN_ALERT_ISSUERS_MAX) {
        return;
    }
    size_t len = strlen(list);
    snprintf(list + len, cap - len, "%s%s", len ? "," : "", issuer);
    (*named)++;
}

/* Counts one detokenisation by b's requestor (under v->mu). True, with *a filled, when it
 * makes burst_count within burst_window_ms and no alert was raised for this burst yet. */
static bool burst_count(token_vault *v, struct burst *b, const char *issuer, int64_t now,
                        struct vault_alert_row *a)
{
    uint32_t cap = v->cfg.burst_count;
    b->ring[b->head].at = now;
    snprintf(b->ring[b->head].issuer, sizeof b->ring[b->head].issuer, "%s", issuer);
    b->head = (b->head + 1) % cap;
    b->count += b->count < cap;
    const struct burst_entry *oldest = &b->ring[b->count < cap ? 0 : b->head];
    if (b->count < cap || now - oldest->at > v->cfg.burst_window_ms || now < b->quiet_until) {
        return false;
    }
    memset(a, 0, sizeof *a);
    snprintf(a->kind, sizeof a->kind, "detokenize_burst");
    snprintf(a->requestor, sizeof a->requestor, "%s", b->requestor);
    size_t named = 0;
    for (uint32_t i = 0; i < cap; i++) {
        issuers_add(a->issuers, sizeof a->issuers, &named, b->ring[i].issuer);
    }
    a->count = cap;
    a->threshold = cap;
    a->window_ms = v->cfg.burst_window_ms;
    a->first_at = oldest->at;
    a->last_at = now;
    a->created_at = now;
    b->quiet_until = now + v->cfg.burst_window_ms;
    return true;
}

static void raise_alert(token_vault *v, struct vault_alert_row *a, token_journal_fn journal,
                        void *jctx)
{
    /* Journalled first, like every event; kept even if the journal fails, since the burst
     * happened either way. */
    journal_event(journal, jctx, TOKEN_EVENT_ALERT, NULL, NULL,
                  "op=alert kind=%s requestor=%s count=%u window_ms=%lld issuers=%.60s", a->kind,
                  a->requestor, (unsigned)a->count, (long long)a->window_ms, a->issuers);
    pthread_mutex_lock(&v->mu);
    vault_store_alert_put(v->store, a);
    pthread_mutex_unlock(&v->mu);
    atomic_fetch_add(&v->n_alerts, 1);
}

/* Who may see the card number: the issuer, or the requestor naming the token's own domain. */
static bool may_detokenize(const struct vault_token_row *r, const char *caller,
                           const struct token_domain *asked)
{
    if (strcmp(caller, r->issuer) == 0) {
        return true;
    }
    return strcmp(caller, r->requestor) == 0 && strcmp(asked->requestor, r->requestor) == 0 &&
           strcmp(asked->channel, r->channel) == 0;
}

static int detokenize_locked(token_vault *v, const struct vault_token_row *row, int rc,
                             const char *caller, const struct token_domain *asked, int64_t now,
                             char pan[TOKEN_PAN_MAX + 1])
{
    if (rc != JZ_OK) {
        return rc;
    }
    if (!may_detokenize(row, caller, asked)) {
        return JZ_FORBIDDEN;
    }
    if (row->status == TOKEN_DELETED || !row->has_secret) {
        return JZ_TOKEN_DELETED;
    }
    if (row->status == TOKEN_SUSPENDED) {
        return JZ_TOKEN_SUSPENDED;
    }
    if (now >= row->expires_at) {
        return JZ_TOKEN_EXPIRED;
    }
    const struct data_key *k = key_find(v, row->key_version);
    return k && record_open(k, row->token, row->sealed, row->sealed_len, pan, NULL) == 0
               ? JZ_OK : JZ_UNAVAILABLE;
}

int token_detokenize(token_vault *v, const char *token, const char *caller,
                     const struct token_domain *asked, int64_t now_ms, token_journal_fn journal,
                     void *jctx, char pan[TOKEN_PAN_MAX + 1])
{
    struct vault_token_row row;
    struct vault_alert_row alert;
    char clear[TOKEN_PAN_MAX + 1];
    pthread_mutex_lock(&v->mu);
    int rc = get_row(v, token, &row);
    struct burst *b = burst_of(v, caller);
    bool alerted = b && burst_count(v, b, rc == JZ_OK ? row.issuer : "", now_ms, &alert);
    rc = detokenize_locked(v, &row, rc, caller, asked, now_ms, clear);
    pthread_mutex_unlock(&v->mu);
    crypto_wipe(row.sealed, sizeof row.sealed);
    if (alerted) {
        raise_alert(v, &alert, journal, jctx);
    }
    if (rc == JZ_FORBIDDEN) {
        atomic_fetch_add(&v->n_refused, 1);
        journal_event(journal, jctx, TOKEN_EVENT_REFUSED, row.token, &row.wallet,
                      "op=detokenize result=forbidden by=%s requestor=%s channel=%s", caller,
                      asked->requestor, asked->channel);
        return rc;
    }
    if (rc == JZ_OK &&
        journal_event(journal, jctx, TOKEN_EVENT_DETOKENIZE, row.token, &row.wallet,
                      "op=detokenize by=%s requestor=%s channel=%s", caller, asked->requestor,
                      asked->channel) != 0) {
        rc = JZ_UNAVAILABLE;
    }
    if (rc == JZ_OK) {
        memcpy(pan, clear, sizeof clear);
        atomic_fetch_add(&v->n_detokenized, 1);
    }
    crypto_wipe(clear, sizeof clear);
    return rc;
}

int token_check_payment(token_vault *v, const char *token, const char *caller,
                        const jz_id *wallet, int64_t now_ms)
{
    struct vault_token_row row;
    pthread_mutex_lock(&v->mu);
    int rc = get_row(v, token, &row);
    pthread_mutex_unlock(&v->mu);
    crypto_wipe(row.sealed, sizeof row.sealed);
    if (rc != JZ_OK) {
        return rc;
    }
    if (strcmp(row.issuer, caller) != 0) {
        return JZ_FORBIDDEN;
    }
    if (row.status == TOKEN_DELETED) {
        return JZ_TOKEN_DELETED;
    }
    if (row.status == TOKEN_SUSPENDED) {
        return JZ_TOKEN_SUSPENDED;
    }
    if (now_ms >= row.expires_at) {
        return JZ_TOKEN_EXPIRED;
    }
    return jz_id_eq(&row.wallet, wallet) ? JZ_OK : JZ_TOKEN_WALLET_MISMATCH;
}

/* ---- Rotation ---- */

int token_rotate_begin(token_vault *v, int64_t now_ms, token_journal_fn journal, void *jctx,
                       uint32_t *version)
{
    uint8_t kek[KEK_BYTES];
    struct vault_key_row row;
    struct data_key fresh;
    char err[200];
    pthread_mutex_lock(&v->write_mu);
    pthread_mutex_lock(&v->mu);
    int rc = v->nkeys > 1 ? JZ_ROTATION_IN_PROGRESS : JZ_OK;
    fresh.version = v->current + 1;
    pthread_mutex_unlock(&v->mu);
    if (rc == JZ_OK) {
        rc = kek_read(v, kek, err, sizeof err) == 0 &&
                     crypto_random(fresh.key, sizeof fresh.key) == 0 &&
                     key_wrap(kek, VAULT_KEY_DATA, fresh.version, fresh.key, sizeof fresh.key,
                              now_ms, &row) == 0
                 ? JZ_OK : JZ_UNAVAILABLE;
        crypto_wipe(kek, sizeof kek);
    }
    if (rc == JZ_OK) {
        rc = journal_event(journal, jctx, TOKEN_EVENT_ROTATE_BEGIN, NULL, NULL,
                           "op=rotate_begin by=system version=%u", (unsigned)fresh.version) == 0
                 ? JZ_OK : JZ_UNAVAILABLE;
    }
    if (rc == JZ_OK) {
        pthread_mutex_lock(&v->mu);
        rc = vault_store_key_put(v->store, &row) == 0 ? JZ_OK : JZ_UNAVAILABLE;
        if (rc == JZ_OK) {
            ASSERT(v->nkeys < TOKEN_KEYS_MAX);
            v->keys[v->nkeys++] = fresh;
            v->current = fresh.version;
            v->reseal_after[0] = '\0';
        }
        pthread_mutex_unlock(&v->mu);
    }
    pthread_mutex_unlock(&v->write_mu);
    if (rc == JZ_OK) {
        *version = fresh.version;
    }
    crypto_wipe(&fresh, sizeof fresh);
    return rc;
}

/* Re-encrypts rows[0..n) under the current key in one transaction (under v->mu). */
static int reseal_rows(token_vault *v, const struct vault_token_row *rows, size_t n,
                       uint32_t *moved)
{
    const struct data_key *to = key_find(v, v->current);
    char pan[TOKEN_PAN_MAX + 1];
    char expiry[5];
    uint8_t sealed[SEALED_BYTES];
    uint32_t done = 0;
    if (vault_store_begin(v->store) != 0) {
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const struct data_key *from = key_find(v, rows[i].key_version);
        rc = from && record_open(from, rows[i].token, rows[i].sealed, rows[i].sealed_len, pan,
                                 expiry) == 0 &&
                     record_seal(to, rows[i].token, pan, expiry, sealed) == 0
                 ? 0 : -1;
        int r = rc == 0 ? vault_store_token_reseal(v->store, rows[i].token, rows[i].key_version,
                                                   v->current, sealed, sizeof sealed)
                        : -1;
        rc = r < 0 ? -1 : 0;
        done += r == 0;
    }
    crypto_wipe(pan, sizeof pan);
    crypto_wipe(sealed, sizeof sealed);
    if (rc != 0 || vault_store_commit(v->store) != 0) {
        vault_store_rollback(v->store);
        return -1;
    }
    *moved = done;
    atomic_fetch_add(&v->n_resealed, done);
    return 0;
}

/* A pass found nothing left to re-encrypt: delete every older key no row uses (under v->mu). */
static int retire_keys(token_vault *v)
{
    for (size_t i = 0; i < v->nkeys;) {
        uint64_t n = 0;
        uint32_t version = v->keys[i].version;
        if (version == v->current) {
            i++;
            continue;
        }
        if (vault_store_count_version(v->store, version, &n) != 0) {
            return -1;
        }
        if (n > 0) {
            v->reseal_after[0] = '\0'; /* rows the pass missed: go round again */
            i++;
            continue;
        }
        if (vault_store_key_delete(v->store, VAULT_KEY_DATA, version) != 0) {
            return -1;
        }
        crypto_wipe(&v->keys[i], sizeof v->keys[i]);
        v->keys[i] = v->keys[v->nkeys - 1];
        crypto_wipe(&v->keys[v->nkeys - 1], sizeof v->keys[0]);
        v->nkeys--;
    }
    return 0;
}

int token_rotate_step(token_vault *v, uint32_t max_rows, uint32_t *moved, bool *done)
{
    struct vault_token_row *rows = calloc(max_rows ? max_rows : 1, sizeof *rows);
    if (!rows) {
        return -1;
    }
    *moved = 0;
    pthread_mutex_lock(&v->mu);
    size_t n = 0;
    int rc = 0;
    if (v->nkeys > 1) {
        rc = vault_store_tokens_to_reseal(v->store, v->current, v->reseal_after, rows, max_rows,
                                          &n);
    }
    if (rc == 0 && n > 0) {
        rc = reseal_rows(v, rows, n, moved);
        if (rc == 0) {
            snprintf(v->reseal_after, sizeof v->reseal_after, "%s", rows[n - 1].token);
        }
    } else if (rc == 0 && v->nkeys > 1) {
        rc = retire_keys(v);
    }
    *done = v->nkeys == 1;
    pthread_mutex_unlock(&v->mu);
    for (size_t i = 0; i < n; i++) {
        crypto_wipe(rows[i].sealed, sizeof rows[i].sealed);
    }
    free(rows);
    return rc;
}

/* Sleeps ms unless the vault is closing; true when it is. */
static bool worker_pause(token_vault *v, uint32_t ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    int64_t ns = (int64_t)until.tv_nsec + (int64_t)ms * 1000000;
    until.tv_sec += (time_t)(ns / 1000000000);
    until.tv_nsec = (long)(ns % 1000000000);
    pthread_mutex_lock(&v->worker_mu);
    while (!v->worker_stop && ms > 0 &&
           pthread_cond_timedwait(&v->worker_cond, &v->worker_mu, &until) == 0) {
    }
    bool stop = v->worker_stop;
    pthread_mutex_unlock(&v->worker_mu);
    return stop;
}

static void *rotation_worker(void *arg)
{
    token_vault *v = arg;
    for (;;) {
        uint32_t moved = 0;
        bool done = false;
        int rc = token_rotate_step(v, v->cfg.rotate_batch, &moved, &done);
        if (rc == 0 && done) {
            pthread_mutex_lock(&v->mu);
            unsigned version = v->current;
            pthread_mutex_unlock(&v->mu);
            journal_event(v->worker_journal, v->worker_ctx, TOKEN_EVENT_ROTATE_DONE, NULL, NULL,
                          "op=rotate_done by=system version=%u", version);
            break;
        }
        /* A failed step changed nothing: try again a little later. */
        if (worker_pause(v, rc == 0 ? v->cfg.rotate_pause_ms : 200)) {
            break;
        }
    }
    pthread_mutex_lock(&v->worker_mu);
    v->worker_running = false;
    pthread_mutex_unlock(&v->worker_mu);
    return NULL;
}

int token_rotation_start(token_vault *v, token_journal_fn journal, void *jctx)
{
    pthread_mutex_lock(&v->mu);
    bool pending = v->nkeys > 1;
    pthread_mutex_unlock(&v->mu);
    pthread_mutex_lock(&v->worker_mu);
    int rc = 0;
    if (pending && !v->worker_running && !v->worker_stop) {
        if (v->worker_started) {
            pthread_join(v->worker, NULL); /* the previous rotation's thread, finished */
            v->worker_started = false;
        }
        v->worker_journal = journal;
        v->worker_ctx = jctx;
        v->worker_running = true;
        rc = pthread_create(&v->worker, NULL, rotation_worker, v) == 0 ? 0 : -1;
        v->worker_started = rc == 0;
        v->worker_running = rc == 0;
    }
    pthread_mutex_unlock(&v->worker_mu);
    return rc;
}

bool token_rotation_running(token_vault *v)
{
    return atomic_load(&v->worker_running);
}

int token_key_status(token_vault *v, struct token_key_status *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&v->mu);
    int rc = vault_store_count_tokens(v->store, &out->tokens);
    out->current = v->current;
    out->nkeys = v->nkeys;
    out->rotating = v->nkeys > 1;
    for (size_t i = 0; rc == 0 && i < v->nkeys; i++) {
        out->versions[i] = v->keys[i].version;
        rc = vault_store_count_version(v->store, v->keys[i].version, &out->rows[i]);
    }
    pthread_mutex_unlock(&v->mu);
    return rc;
}

/* ---- Alerts, bulk, figures ---- */

static bool alert_names(const struct vault_alert_row *a, const char *issuer)
{
    char probe[VAULT_INST_MAX + 3];
    char padded[VAULT_ISSUERS_TEXT_MAX + 3];
    snprintf(probe, sizeof probe, ",%s,", issuer);
    snprintf(padded, sizeof padded, ",%s,", a->issuers);
    return strstr(padded, probe) != NULL;
}

int token_alerts_list(token_vault *v, const char *visible_to, int64_t before,
                      struct vault_alert_row *out, size_t max, size_t *n)
{
    enum { CHUNK = 64 };
    struct vault_alert_row chunk[CHUNK];
    size_t count = 0;
    int rc = 0;
    pthread_mutex_lock(&v->mu);
    while (rc == 0 && count < max) {
        size_t got = 0;
        rc = vault_store_alerts(v->store, before, chunk, CHUNK, &got);
        for (size_t i = 0; rc == 0 && i < got && count < max; i++) {
            if (!visible_to || alert_names(&chunk[i], visible_to)) {
                out[count++] = chunk[i];
            }
        }
        if (got < CHUNK) {
            break;
        }
        before = chunk[got - 1].id;
    }
    pthread_mutex_unlock(&v->mu);
    *n = count;
    return rc;
}

int token_bulk_begin(token_vault *v)
{
    pthread_mutex_lock(&v->mu);
    ASSERT(!v->bulk);
    int rc = vault_store_begin(v->store);
    v->bulk = rc == 0;
    pthread_mutex_unlock(&v->mu);
    return rc;
}

int token_bulk_commit(token_vault *v)
{
    pthread_mutex_lock(&v->mu);
    ASSERT(v->bulk);
    v->bulk = 0;
    int rc = vault_store_commit(v->store);
    if (rc != 0) {
        vault_store_rollback(v->store);
    }
    pthread_mutex_unlock(&v->mu);
    return rc;
}

void token_get_stats(token_vault *v, struct token_stats *out)
{
    out->tokenized = atomic_load(&v->n_tokenized);
    out->detokenized = atomic_load(&v->n_detokenized);
    out->refused = atomic_load(&v->n_refused);
    out->alerts = atomic_load(&v->n_alerts);
    out->collisions = atomic_load(&v->n_collisions);
    out->resealed = atomic_load(&v->n_resealed);
    pthread_mutex_lock(&v->mu);
    out->key_version = v->current;
    out->data_keys = (uint32_t)v->nkeys;
    pthread_mutex_unlock(&v->mu);
}
