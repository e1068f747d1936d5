/*
 * test_json_fast.c: the fast reader of transfer bodies against the general one. Whatever the
 * fast reader accepts, the general reader accepts with the same commands; the plain forms
 * clients send are accepted; everything else falls back (and the general reader words the
 * error). A seeded mutation test holds the first property over many near-valid bodies.
 */
#include <stdlib.h>

#include "api.h"
#include "json_fast.h"
#include "test.h"

static const char *const kinds[] = {"p2p",          "payment",      "bill", "refund",
                                    "exchange_in", "exchange_out", "disbursement", NULL};

#define ID_A "0123456789abcdef0123456789abcdef"
#define ID_B "fedcba9876543210fedcba9876543210"
#define ID_C "00000000000000000000000000000001"

static bool same_cmd(const struct ledger_cmd *x, const struct ledger_cmd *y)
{
    return x->op == y->op && x->kind == y->kind && x->flags == y->flags &&
           jz_id_eq(&x->id, &y->id) && jz_id_eq(&x->debit, &y->debit) &&
           jz_id_eq(&x->credit, &y->credit) && x->amount == y->amount &&
           x->ref_len == y->ref_len && memcmp(x->ref, y->ref, x->ref_len) == 0 &&
           x->memo_len == y->memo_len && memcmp(x->memo, y->memo, x->memo_len) == 0;
}

/* Runs both readers; returns the fast reader's answer, checking the property. */
static int both(const char *body, size_t len, bool batch, struct ledger_cmd *fast,
                struct ledger_cmd *general, size_t cap)
{
    size_t nf = 0, ng = 0;
    struct api_error e;
    int f = json_fast_transfers(body, len, batch, kinds, fast, cap, &nf);
    int g = api_parse_transfers(body, len, batch, general, cap, &ng, &e);
    if (f == JSON_FAST_OK) {
        CHECK_EQ_INT(g, 0);
        CHECK_EQ_INT(nf, ng);
        for (size_t i = 0; g == 0 && i < nf && i < ng; i++) {
            if (!same_cmd(&fast[i], &general[i])) {
                test_fail(__FILE__, __LINE__, "item %zu differs for body %.*s", i, (int)len, body);
            }
        }
    }
    return f;
}

TEST(json_fast_reads_the_plain_forms_as_the_general_reader)
{
    struct ledger_cmd f[4], g[4];
    const char *one = "{\"id\":\"" ID_A "\",\"debit\":\"" ID_B "\",\"credit\":\"" ID_C
                      "\",\"amount\":1234,\"kind\":\"p2p\",\"ref\":\"inv-7\",\"memo\":\"lunch\"}";
    REQUIRE_EQ_INT(both(one, strlen(one), false, f, g, 1), JSON_FAST_OK);
    CHECK_EQ_INT(f[0].amount, 1234);
    CHECK_EQ_INT(f[0].kind, LEDGER_KIND_P2P);
    CHECK_EQ_INT(f[0].ref_len, 5);
    const char *spaced = " { \"kind\" : \"exchange_in\" ,\n\t\"amount\":9000000000000000, "
                         "\"credit\":\"" ID_C "\",\"debit\":\"" ID_B "\",\"id\":\"" ID_A
                         "\",\"ref\":\"\"}\r\n";
    REQUIRE_EQ_INT(both(spaced, strlen(spaced), false, f, g, 1), JSON_FAST_OK);
    CHECK_EQ_INT(f[0].amount, JZ_AMOUNT_MAX);
    const char *batch = "{\"transfers\":[{\"id\":\"" ID_A "\",\"debit\":\"" ID_B
                        "\",\"credit\":\"" ID_C "\",\"amount\":1,\"kind\":\"payment\","
                        "\"linked\":true},{\"id\":\"" ID_B "\",\"debit\":\"" ID_C
                        "\",\"credit\":\"" ID_A "\",\"amount\":2,\"kind\":\"refund\","
                        "\"linked\":false}]}";
    REQUIRE_EQ_INT(both(batch, strlen(batch), true, f, g, 4), JSON_FAST_OK);
    CHECK_EQ_INT(f[0].flags, LEDGER_FLAG_LINKED);
    CHECK_EQ_INT(f[1].flags, 0);
}

TEST(json_fast_leaves_everything_else_to_the_general_reader)
{
    struct ledger_cmd f[2], g[2];
    const char *cases[] = {
        /* valid JSON the fast reader leaves alone */
        "{\"id\":\"" ID_A "\",\"debit\":\"" ID_B "\",\"credit\":\"" ID_C
        "\",\"amount\":5,\"kind\":\"p2p\",\"memo\":\"caf\\u00e9\"}",
        "{\"id\":\"" ID_A "\",\"debit\":\"" ID_B "\",\"credit\":\"" ID_C
        "\",\"amount\":5,\"kind\":\"p2p\",\"memo\":\"\xe5\x8d\x88\xe9\xa5\xad\"}",
        /* and invalid bodies, which the general reader must word */
        "{\"id\":\"" ID_A "\",\"debit\":\"" ID_B "\",\"credit\":\"" ID_C
        "\",\"amount\":0,\"kind\":\"p2p\"}",
        "{\"id\":\"" ID_A "\",\"debit\":\"" ID_B "\",\"credit\":\"" ID_C
        "\",\"amount\":-5,\"kind\":\"p2p\"}",
        "{\"id\":\"" ID_A "\",\"debit\":\"" ID_B "\",\"credit\":\"" ID_C
        "\",\"amount\":5.0,\"kind\":\"p2p\"}",
        "{\"id\":\"" ID_A "\",\"debit\":\"" ID_B "\",\"credit\":\"" ID_C
        "\",\"amount\":9000000000000000001,\"kind\":\"p2p\"}",
        "{\"id\":\"0123456789ABCDEF0123456789abcdef\",\"debit\":\"" ID_B "\",\"credit\":\"" ID_C
        "\",\"amount\":5,\"kind\":\"p2p\"}",
        "{\"id\":\"" ID_A "\",\"debit\":\"" ID_B "\",\"credit\":\"" ID_C
        "\",\"amount\":5,\"kind\":\"issue\"}",
        "{\"id\":\"" ID_A "\",\"debit\":\"" ID_B "\",\"credit\":\"" ID_C
        "\",\"amount\":5,\"kind\":\"p2p\",\"linked\":true}",
        "{\"id\":\"" ID_A "\",\"id\":\"" ID_A "\",\"debit\":\"" ID_B "\",\"credit\":\"" ID_C
        "\",\"amount\":5,\"kind\":\"p2p\"}",
        "{\"id\":\"" ID_A "\",\"debit\":\"" ID_B "\",\"amount\":5,\"kind\":\"p2p\"}",
        "{\"id\":\"" ID_A "\",\"debit\":\"" ID_B "\",\"credit\":\"" ID_C
        "\",\"amount\":5,\"kind\":\"p2p\",\"extra\":1}",
        "{\"id\":\"" ID_A "\",\"debit\":\"" ID_B "\",\"credit\":\"" ID_C
        "\",\"amount\":5,\"kind\":\"p2p\"} x",
        "{\"id\":\"" ID_A "\",\"debit\":\"" ID_B "\",\"credit\":\"" ID_C "\",\"amount\":5,",
        "[]",
        "",
    };
    for (size_t i = 0; i < JZ_ARRAY_LEN(cases); i++) {
        int rc = both(cases[i], strlen(cases[i]), false, f, g, 2);
        if (rc != JSON_FAST_FALLBACK) {
            test_fail(__FILE__, __LINE__, "case %zu was taken by the fast reader", i);
        }
    }
    const char *batches[] = {"{\"transfers\":[]}", "{\"transfers\":{}}", "{\"transfers\":[1]}",
                             "{\"transfers\":[],\"x\":1}"};
    for (size_t i = 0; i < JZ_ARRAY_LEN(batches); i++) {
        CHECK_EQ_INT(both(batches[i], strlen(batches[i]), true, f, g, 2), JSON_FAST_FALLBACK);
    }
}

/* Mutations of a valid batch: byte flips, insertions of JSON-significant characters,
 * deletions and truncations. Whatever the fast reader accepts, the general one must accept
 * identically (checked inside both()). */
TEST(json_fast_never_accepts_what_the_general_reader_reads_otherwise)
{
    static const char base[] =
        "{\"transfers\":[{\"id\":\"" ID_A "\",\"debit\":\"" ID_B "\",\"credit\":\"" ID_C
        "\",\"amount\":1234,\"kind\":\"p2p\",\"ref\":\"r-1\",\"memo\":\"m\",\"linked\":true},"
        "{\"id\":\"" ID_B "\",\"debit\":\"" ID_C "\",\"credit\":\"" ID_A
        "\",\"amount\":77,\"kind\":\"exchange_out\"}]}";
    static const char alphabet[] = "{}[]:,\"\\ 0189-.eE\ttrufalsn\x01\x7f\xc3";
    uint64_t seed = test_seed();
    uint64_t r = seed;
    struct ledger_cmd f[4], g[4];
    char buf[sizeof base + 8];
    int accepted = 0;
    for (int round = 0; round < 20000; round++) {
        memcpy(buf, base, sizeof base);
        size_t len = sizeof base - 1;
        int edits = 1 + (int)((r = jz_mix64(r)) % 3);
        for (int k = 0; k < edits && len > 1; k++) {
            r = jz_mix64(r);
            size_t at = (size_t)(r % len);
            char ch = alphabet[(r >> 32) % (sizeof alphabet - 1)];
            switch ((r >> 48) % 4) {
            case 0: buf[at] = ch; break;
            case 1:
                memmove(buf + at + 1, buf + at, len - at);
                buf[at] = ch;
                len++;
                break;
            case 2:
                memmove(buf + at, buf + at + 1, len - at - 1);
                len--;
                break;
            default: len = at; break;
            }
        }
        accepted += both(buf, len, true, f, g, 4) == JSON_FAST_OK;
        if (test_failed()) {
            fprintf(stderr, "seed %" PRIu64 " round %d\n", seed, round);
            return;
        }
    }
    CHECK(accepted > 0); /* some mutations (a digit changed, a space added) stay valid */
}
