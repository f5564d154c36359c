/* The C API's calls against known answers: transactions, the SELECT rule, reads by
 * sequence number and UID, callbacks, cursors, flags, segments, the fetch plan, the
 * QRESYNC parameter. Usage: api SCRATCH_DIR (an empty directory). */
#include "check.h"

static const uidcache_bytes SEEN = {(const uint8_t *)"\\Seen", 5};
static const uidcache_bytes FLAGGED = {(const uint8_t *)"\\Flagged", 8};

/* Collects rows from a callback. */
typedef struct {
    uidcache_row rows[64];
    int n;
    int stop_after;
} rows_t;

static int collect(void *ctx, const uidcache_row *row) {
    rows_t *r = ctx;
    CHECK(r->n < 64);
    r->rows[r->n++] = *row;
    return r->stop_after != 0 && r->n >= r->stop_after;
}

typedef struct {
    char text[256];
} names_t;

static int join_names(void *ctx, const uint8_t *name, size_t len) {
    names_t *n = ctx;
    size_t used = strlen(n->text);
    CHECK(used + len + 2 < sizeof n->text);
    if (used > 0) n->text[used++] = ' ';
    memcpy(n->text + used, name, len);
    n->text[used + len] = '\0';
    return 0;
}

typedef struct {
    uint32_t kind[16], first[16], last[16];
    int n;
} segments_t;

static int collect_segment(void *ctx, uint32_t kind, uint32_t first, uint32_t last) {
    segments_t *s = ctx;
    CHECK(s->n < 16);
    s->kind[s->n] = kind;
    s->first[s->n] = first;
    s->last[s->n] = last;
    s->n++;
    return 0;
}

/* 20 messages; seqs 1..=10 known (UID 10*seq, MODSEQ = UID, \Seen on even seqs,
 * \Flagged on seq 3), 11..=20 a hole. UIDVALIDITY 77, HIGHESTMODSEQ 100. */
static void fill(uidcache_cache *c) {
    uidcache_txn *t = NULL;
    OK(uidcache_begin(c, &t));
    uint32_t uidvalidity = 77, uidnext = 500;
    uint64_t hms = 100;
    OK(uidcache_txn_set_uidvalidity(t, &uidvalidity));
    OK(uidcache_txn_set_uidnext(t, &uidnext));
    OK(uidcache_txn_set_exists(t, 20));
    uint32_t uids[10];
    for (uint32_t i = 0; i < 10; i++) uids[i] = 10 * (i + 1);
    OK(uidcache_txn_learn_range(t, 1, uids, 10));
    for (uint32_t seq = 1; seq <= 10; seq++) {
        uidcache_bytes names[2];
        size_t n = 0;
        if (seq % 2 == 0) names[n++] = SEEN;
        if (seq == 3) names[n++] = FLAGGED;
        uidcache_update u = {names, n, 10 * seq, 1, 1};
        OK(uidcache_txn_update_seq(t, seq, &u));
    }
    OK(uidcache_txn_set_highestmodseq(t, &hms));
    OK(uidcache_txn_commit(t, UIDCACHE_DURABILITY_DURABLE));
}

static void reads(uidcache_cache *c) {
    CHECK(uidcache_abi_version() >> 16 == UIDCACHE_ABI_MAJOR);
    uidcache_counters k;
    OK(uidcache_get_counters(c, &k));
    CHECK(k.has_uidvalidity && k.uidvalidity == 77);
    CHECK(k.has_uidnext && k.uidnext == 500);
    CHECK(k.has_exists && k.exists == 20);
    CHECK(k.has_highestmodseq && k.highestmodseq == 100);
    CHECK(k.record_count == 10 && k.unplaced_count == 0);

    uidcache_message m;
    bool found = false;
    OK(uidcache_message_at(c, 3, &m, &found));
    CHECK(found && m.uid == 30 && m.has_modseq && m.modseq == 30 && m.has_flags);
    OK(uidcache_message_at(c, 15, &m, &found));
    CHECK(!found);
    OK(uidcache_message_at(c, 0, &m, &found));
    CHECK(!found);
    OK(uidcache_message_at(c, 4000000000u, &m, &found));
    CHECK(!found);

    OK(uidcache_message_at(c, 3, &m, &found));
    names_t names = {{0}};
    OK(uidcache_flag_names(c, m.flag_set, join_names, &names));
    CHECK(strcmp(names.text, "\\Flagged") == 0);
    int has = 7;
    OK(uidcache_has_flag(c, &m, (const uint8_t *)"\\FLAGGED", 8, &has));
    CHECK(has == 1);
    OK(uidcache_has_flag(c, &m, (const uint8_t *)"\\Seen", 5, &has));
    CHECK(has == 0);

    uidcache_position p;
    OK(uidcache_position_of_uid(c, 40, &p));
    CHECK(p.kind == UIDCACHE_POSITION_PLACED && p.seq == 4);
    OK(uidcache_position_of_uid(c, 45, &p));
    CHECK(p.kind == UIDCACHE_POSITION_ABSENT);
    OK(uidcache_position_of_uid(c, 300, &p));
    CHECK(p.kind == UIDCACHE_POSITION_IN_HOLE && p.hole_first == 11 && p.hole_last == 20);

    rows_t rows = {0};
    OK(uidcache_range(c, 8, 15, collect, &rows));
    CHECK(rows.n == 3 && rows.rows[0].seq == 8 && rows.rows[2].seq == 10);
    CHECK(rows.rows[1].message.uid == 90);
    rows_t first_two = {.stop_after = 2};
    OK(uidcache_range(c, 1, 20, collect, &first_two));
    CHECK(first_two.n == 2);

    rows_t changed = {0};
    OK(uidcache_changed_since(c, 70, collect, &changed));
    CHECK(changed.n == 3 && changed.rows[0].seq == 8 && changed.rows[0].message.modseq == 80);

    segments_t s = {0};
    OK(uidcache_segments(c, collect_segment, &s));
    CHECK(s.n == 2);
    CHECK(s.kind[0] == UIDCACHE_SEGMENT_KNOWN && s.first[0] == 1 && s.last[0] == 10);
    CHECK(s.kind[1] == UIDCACHE_SEGMENT_HOLE && s.first[1] == 11 && s.last[1] == 20);

    uint32_t first = 0, last = 0;
    OK(uidcache_fetch_plan(c, 12, 5, &first, &last, &found));
    CHECK(found && first == 11 && last == 15);
    OK(uidcache_fetch_plan(c, 2, 5, &first, &last, &found));
    CHECK(!found);

    /* The QRESYNC parameter: too small a buffer says how much is needed. */
    char small[8];
    size_t len = 0;
    EXPECT(UIDCACHE_ERR_BUFFER_TOO_SMALL, uidcache_qresync_param(c, (uint8_t *)small, sizeof small, &len));
    CHECK(len > sizeof small && small[0] == '\0');
    char param[256];
    OK(uidcache_qresync_param(c, (uint8_t *)param, sizeof param, &len));
    CHECK(strlen(param) == len);
    CHECK(strstr(param, "(QRESYNC (77 100 ") == param);

    /* A cursor in batches of 4: 4 + 4 + 2 rows, then none. */
    uidcache_cursor *cur = NULL;
    OK(uidcache_cursor_open(c, 0, 20, &cur));
    uidcache_row batch[4];
    size_t n = 99, total = 0;
    uint32_t next_seq = 1;
    for (;;) {
        OK(uidcache_cursor_next(cur, batch, 4, &n));
        if (n == 0) break;
        for (size_t i = 0; i < n; i++) {
            CHECK(batch[i].seq == next_seq && batch[i].message.uid == 10 * next_seq);
            next_seq++;
        }
        total += n;
    }
    CHECK(total == 10);
    OK(uidcache_cursor_next(cur, batch, 4, &n));
    CHECK(n == 0);
    OK(uidcache_cursor_close(cur));
}

static void changes(uidcache_cache *c) {
    uidcache_txn *t = NULL;
    /* A plain SELECT with the same UIDVALIDITY: no position stays. */
    OK(uidcache_begin(c, &t));
    uidcache_select plain = {UIDCACHE_SELECT_UIDVALIDITY | UIDCACHE_SELECT_EXISTS, 77, 20, 0, NULL, 0};
    uidcache_select_outcome outcome;
    OK(uidcache_txn_record_select(t, &plain, &outcome));
    CHECK(outcome.kept == 0 && !outcome.cleared && outcome.unproven_flags);
    uidcache_position p;
    OK(uidcache_txn_position_of_uid(t, 30, &p));
    CHECK(p.kind == UIDCACHE_POSITION_UNPLACED);
    /* Abort: nothing of it stays. */
    OK(uidcache_txn_abort(t));
    uidcache_message m;
    bool found;
    OK(uidcache_message_at(c, 3, &m, &found));
    CHECK(found && m.uid == 30);

    /* QRESYNC with UID 20 vanished earlier: the run from 1 stays, minus seq 2. */
    OK(uidcache_begin(c, &t));
    uidcache_uid_range vanished = {20, 20};
    uidcache_select q = {UIDCACHE_SELECT_UIDVALIDITY | UIDCACHE_SELECT_EXISTS | UIDCACHE_SELECT_QRESYNC,
                         77, 19, 0, &vanished, 1};
    OK(uidcache_txn_record_select(t, &q, &outcome));
    CHECK(outcome.kept == 9 && !outcome.cleared && !outcome.unproven_flags);
    /* VANISHED 30:50 and a UID range over the hole. */
    uidcache_uid_range gone[2] = {{30, 50}, {400, 402}};
    uidcache_removed removed;
    OK(uidcache_txn_remove_uids(t, gone, 2, &removed));
    CHECK(removed.placed == 3 && removed.from_holes == 3 && removed.unplaced == 0);
    OK(uidcache_txn_expunge(t, 1));
    uidcache_update seen = {&SEEN, 1, 0, 1, 0};
    OK(uidcache_txn_update_uid(t, 60, &seen));
    OK(uidcache_txn_learn(t, 6, 900, NULL));
    OK(uidcache_txn_unplace(t, 5, 5));
    OK(uidcache_txn_commit(t, UIDCACHE_DURABILITY_NO_SYNC));

    uidcache_counters k;
    OK(uidcache_get_counters(c, &k));
    /* 20 - 1 (vanished earlier) - 3 placed - hole removals - 1 expunged. */
    CHECK(k.exists == 19 - 3 - (uint32_t)removed.from_holes - 1);
    OK(uidcache_message_at(c, 1, &m, &found));
    CHECK(found && m.uid == 60);
    int has = -2;
    OK(uidcache_has_flag(c, &m, SEEN.ptr, SEEN.len, &has));
    CHECK(has == 1);
    OK(uidcache_message_at(c, 6, &m, &found));
    CHECK(found && m.uid == 900 && !m.has_flags && !m.has_modseq);
    OK(uidcache_has_flag(c, &m, SEEN.ptr, SEEN.len, &has));
    CHECK(has == -1);
    OK(uidcache_position_of_uid(c, 100, &p));
    CHECK(p.kind == UIDCACHE_POSITION_UNPLACED);
    OK(uidcache_unplaced_message(c, 100, &m, &found));
    CHECK(found && m.uid == 100 && m.modseq == 100);

    /* A new UIDVALIDITY clears everything. */
    OK(uidcache_begin(c, &t));
    uidcache_select fresh = {UIDCACHE_SELECT_UIDVALIDITY | UIDCACHE_SELECT_EXISTS, 78, 2, 0, NULL, 0};
    OK(uidcache_txn_record_select(t, &fresh, &outcome));
    CHECK(outcome.cleared && outcome.kept == 0);
    OK(uidcache_txn_commit(t, UIDCACHE_DURABILITY_DEFAULT));
    OK(uidcache_get_counters(c, &k));
    CHECK(k.uidvalidity == 78 && k.exists == 2 && k.record_count == 0 && !k.has_highestmodseq);
    size_t len = 5;
    char param[16];
    OK(uidcache_qresync_param(c, (uint8_t *)param, sizeof param, &len));
    CHECK(len == 0 && param[0] == '\0');
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: api SCRATCH_DIR\n");
        return 2;
    }
    char dir[4096];
    join(dir, sizeof dir, argv[1], "INBOX");
    uidcache_cache *c = NULL;
    OK(uidcache_open(dir, NULL, &c));
    fill(c);
    reads(c);
    /* The same answers from a reader in the same process, beside the writer. */
    uidcache_open_options o;
    OK(uidcache_open_options_init(&o));
    o.flags = UIDCACHE_OPEN_READ_ONLY;
    uidcache_cache *r = NULL;
    OK(uidcache_open(dir, &o, &r));
    reads(r);
    OK(uidcache_close(r));
    changes(c);
    OK(uidcache_close(c));
    printf("api: all checks passed\n");
    return 0;
}
