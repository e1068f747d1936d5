/*
 * disclosure.c: pseudonyms, identity records from the journal, and the disclosure audit
 * (see disclosure.h).
 */
#include "disclosure.h"

#include "command.h"
#include "journal.h"
#include "risk_note.h"

void disclosure_pseudonym(const uint8_t key[CRYPTO_SM3_BYTES], uint16_t viewer,
                          const jz_id *wallet, jz_id *out)
{
    uint8_t msg[2 + 2 + 16];
    uint8_t mac[CRYPTO_SM3_BYTES];
    memcpy(msg, "v1", 2);
    put_u16(msg + 2, viewer);
    memcpy(msg + 4, wallet->b, 16);
    ASSERT(crypto_hmac_sm3(key, CRYPTO_SM3_BYTES, msg, sizeof msg, mac) == 0);
    memcpy(out->b, mac, sizeof out->b);
}

struct holder_search {
    const jz_id *wallet;
    uint8_t *sealed;
    size_t len;
    int found; /* 0 not yet, 1 found with a record, 2 found without one */
};

static int find_open(void *ctx, const struct ledger_cmd *cmds, const uint8_t *results,
                     uint32_t n)
{
    struct holder_search *h = ctx;
    for (uint32_t k = 0; k < n && !h->found; k++) {
        const struct ledger_cmd *c = &cmds[k];
        if (c->op == LEDGER_OP_WALLET_OPEN && results[2 * k] == JZ_OK &&
            !(results[2 * k + 1] & COMMAND_REPLAYED_BIT) && jz_id_eq(&c->id, h->wallet)) {
            h->found = c->holder_len ? 1 : 2;
            memcpy(h->sealed, c->holder, c->holder_len);
            h->len = c->holder_len;
        }
    }
    return 0;
}

int disclosure_sealed_holder(const char *dir, uint64_t seq, uint64_t durable,
                             const jz_id *wallet, uint8_t *sealed, size_t *len)
{
    journal_reader *r = NULL;
    char err[256];
    struct journal_record rec;
    struct ledger_cmd *scratch = calloc(JZ_BATCH_MAX, sizeof *scratch);
    struct holder_search h = {.wallet = wallet, .sealed = sealed};
    int rc = -1;
    if (scratch && seq > 0 && journal_reader_open(dir, seq, &r, err, sizeof err) == 0) {
        if (journal_reader_next(r, durable, &rec, err, sizeof err) == 1 && rec.seq == seq &&
            rec.type == JOURNAL_TYPE_BATCH &&
            command_payload_walk(rec.payload, rec.size, rec.count, scratch, find_open, &h) == 0) {
            rc = h.found == 1 ? 0 : h.found == 2 ? 1 : -1;
            *len = h.len;
        }
        journal_reader_close(r);
    }
    free(scratch);
    return rc;
}

int disclosure_holder_fields(const uint8_t *plain, size_t len, struct holder_identity *out)
{
    char *fields[3] = {out->name, out->id_number, out->phone};
    const size_t caps[3] = {sizeof out->name, sizeof out->id_number, sizeof out->phone};
    size_t pos = 0;
    for (int i = 0; i < 3; i++) {
        if (pos >= len || plain[pos] >= caps[i] || pos + 1 + plain[pos] > len) {
            return -1;
        }
        memcpy(fields[i], plain + pos + 1, plain[pos]);
        fields[i][plain[pos]] = '\0';
        pos += 1 + (size_t)plain[pos];
    }
    return pos == len ? 0 : -1;
}

/* ---- The audit ---- */

struct audit {
    disclosure_audit_fn fn;
    void *ctx;
    uint64_t seq;
    int64_t at;
    int64_t steps;
    uint32_t ninst;
    char (*inst)[JZ_INSTITUTION_ID_MAX + 1];
};

static int audit_group(void *arg, const struct ledger_cmd *cmds, const uint8_t *results,
                       uint32_t n)
{
    struct audit *a = arg;
    for (uint32_t k = 0; k < n; k++) {
        const struct ledger_cmd *c = &cmds[k];
        bool fresh = results[2 * k] == JZ_OK && !(results[2 * k + 1] & COMMAND_REPLAYED_BIT);
        if ((c->op == LEDGER_OP_GENESIS || c->op == LEDGER_OP_INSTITUTION_CREATE) && fresh &&
            a->ninst < JZ_INSTITUTIONS_MAX) {
            snprintf(a->inst[a->ninst++], sizeof a->inst[0], "%s", c->inst.s);
        }
        struct risk_note note;
        if (!fresh || c->op != LEDGER_OP_NOTE || c->kind != LEDGER_NOTE_DISCLOSURE ||
            risk_note_decode(c, &note) != 0) {
            continue;
        }
        struct disclosure_audit_row r = {.seq = a->seq, .at = a->at, .event = note.event,
                                         .id = note.id, .wallet = note.other};
        r.reason = note.event == DISCLOSURE_REFUSE ? (uint8_t)note.number : 0;
        snprintf(r.actor, sizeof r.actor, "%s", c->actor < a->ninst ? a->inst[c->actor] : "?");
        snprintf(r.basis, sizeof r.basis, "%s", note.basis);
        a->fn(a->ctx, &r);
        a->steps++;
    }
    return 0;
}

/* The journal's head, once its chain and signed checkpoints verify with DIR/node.pub: an
 * audit reads only a journal it has checked. */
static int verified_head(const char *dir, uint64_t *head, char *err, size_t err_len)
{
    char path[4096];
    char pem[4096];
    snprintf(path, sizeof path, "%s/node.pub", dir);
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(pem, 1, sizeof pem - 1, f) : 0;
    if (f) {
        fclose(f);
    }
    pem[n] = '\0';
    crypto_sm2_key *pub = NULL;
    if (n == 0 || crypto_sm2_load_public_pem(pem, n, &pub) != 0) {
        snprintf(err, err_len, "%s: not an SM2 public key", path);
        return -1;
    }
    struct journal_verify_report rep;
    int rc = journal_verify(dir, pub, &rep, err, err_len);
    crypto_sm2_free(pub);
    *head = rep.head_seq;
    return rc;
}

int64_t disclosure_audit(const char *dir, disclosure_audit_fn fn, void *ctx, char *err,
                         size_t err_len)
{
    journal_reader *r = NULL;
    struct journal_record rec;
    struct audit a = {.fn = fn, .ctx = ctx};
    uint64_t head = 0;
    if (verified_head(dir, &head, err, err_len) != 0) {
        return -1;
    }
    struct ledger_cmd *scratch = calloc(JZ_BATCH_MAX, sizeof *scratch);
    a.inst = calloc(JZ_INSTITUTIONS_MAX, sizeof *a.inst);
    int rc = scratch && a.inst ? journal_reader_open(dir, 1, &r, err, err_len) : -1;
    while (rc == 0 && (rc = journal_reader_next(r, head, &rec, err, err_len)) == 1) {
        a.seq = rec.seq;
        a.at = rec.timestamp_ms;
        rc = rec.type != JOURNAL_TYPE_BATCH ||
                     command_payload_walk(rec.payload, rec.size, rec.count, scratch, audit_group,
                                          &a) == 0 ? 0 : -1;
        if (rc != 0) {
            snprintf(err, err_len, "journal record %llu is malformed", (unsigned long long)rec.seq);
        }
    }
    journal_reader_close(r);
    free(scratch);
    free(a.inst);
    return rc == 0 ? a.steps : -1;
}
