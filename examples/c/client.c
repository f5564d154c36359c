/* A mail client's use of uidcache from C, from the first SELECT to a reconnect: the flow
 * of examples/client (the Rust example) against a scripted server in this file.
 *
 *   client DIR                     plays three connections on the cache in DIR
 *   client reader DIR FIRST LAST   prints messages FIRST..LAST of DIR, read-only
 *
 * Build (after tools/capi-install.sh PREFIX):
 *   cc client.c $(pkg-config --cflags --libs uidcache) -o client
 *
 * The "server" is a mailbox in memory that answers the commands the client prints (C:
 * lines): a real client would parse the same answers from the wire. Every decision --
 * what to SELECT, which positions to search, which flags to fetch, when HIGHESTMODSEQ may
 * be stored -- comes from the cache. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "uidcache.h"

/* Any failed call ends the program with the library's message. */
#define TRY(call)                                                                       \
    do {                                                                                \
        uidcache_status s_ = (call);                                                    \
        if (s_ != UIDCACHE_OK) {                                                        \
            const char *m_ = uidcache_last_error_message();                             \
            fprintf(stderr, "client: %s: error %d: %s\n", #call, (int)s_, m_ ? m_ : ""); \
            exit(1);                                                                    \
        }                                                                               \
    } while (0)

enum { SEEN = 1, FLAGGED = 2, MAX_MESSAGES = 512, BATCH = 50, PAGE_FIRST = 51, PAGE_LAST = 100 };

/* ---- The server: a mailbox in memory. ---- */
static struct {
    uint32_t uid[MAX_MESSAGES + 1]; /* by sequence number, from 1 */
    unsigned flags[MAX_MESSAGES + 1];
    uint64_t modseq[MAX_MESSAGES + 1];
    uint32_t exists, uidvalidity, uidnext;
    uint64_t highestmodseq;
} server;

static void server_init(void) {
    server.uidvalidity = 7;
    server.highestmodseq = 1200;
    for (uint32_t seq = 1; seq <= 200; seq++) {
        server.uid[seq] = 100 + 3 * seq;
        server.flags[seq] = (seq % 3 ? SEEN : 0) | (seq % 17 ? 0 : FLAGGED);
        server.modseq[seq] = 1000 + seq;
    }
    server.exists = 200;
    server.uidnext = 701;
}

static uint32_t server_deliver(void) {
    uint32_t seq = ++server.exists;
    server.uid[seq] = server.uidnext++;
    server.flags[seq] = 0;
    server.modseq[seq] = ++server.highestmodseq;
    return seq;
}

static void server_set_flags(uint32_t seq, unsigned flags) {
    server.flags[seq] = flags;
    server.modseq[seq] = ++server.highestmodseq;
}

static uint32_t server_expunge(uint32_t seq) {
    uint32_t uid = server.uid[seq];
    for (uint32_t s = seq; s < server.exists; s++) {
        server.uid[s] = server.uid[s + 1];
        server.flags[s] = server.flags[s + 1];
        server.modseq[s] = server.modseq[s + 1];
    }
    server.exists--;
    server.highestmodseq++;
    return uid;
}

/* ---- What the client does with the cache. ---- */

/* The FLAGS of a server message as the names the cache stores. */
static uidcache_update flags_update(unsigned flags, uint64_t modseq, uidcache_bytes names[2]) {
    size_t n = 0;
    if (flags & SEEN) names[n++] = (uidcache_bytes){(const uint8_t *)"\\Seen", 5};
    if (flags & FLAGGED) names[n++] = (uidcache_bytes){(const uint8_t *)"\\Flagged", 8};
    return (uidcache_update){names, n, modseq, 1, 1};
}

/* A FETCH response `* seq FETCH (UID u FLAGS (...) MODSEQ (m))`, applied by UID. */
static void apply_fetch(uidcache_txn *t, uint32_t seq) {
    uidcache_bytes names[2];
    uidcache_update u = flags_update(server.flags[seq], server.modseq[seq], names);
    TRY(uidcache_txn_update_uid(t, server.uid[seq], &u));
}

static int first_hole(void *ctx, uint32_t kind, uint32_t first, uint32_t last) {
    (void)last;
    if (kind != UIDCACHE_SEGMENT_HOLE) return 0;
    *(uint32_t *)ctx = first;
    return 1;
}

/* UID SEARCH RETURN (ALL) for every position the cache does not know, BATCH at a time,
 * aligned as the fetch plan says. */
static void fill_positions(uidcache_cache *c) {
    for (;;) {
        uint32_t hole = 0, first, last;
        bool found;
        TRY(uidcache_segments(c, first_hole, &hole));
        if (hole == 0) return;
        TRY(uidcache_fetch_plan(c, hole, BATCH, &first, &last, &found));
        if (!found) return;
        printf("   C: UID SEARCH RETURN (ALL) %u:%u\n", first, last);
        uidcache_txn *t;
        TRY(uidcache_begin(c, &t));
        TRY(uidcache_txn_learn_range(t, first, &server.uid[first], last - first + 1));
        TRY(uidcache_txn_commit(t, UIDCACHE_DURABILITY_DEFAULT));
    }
}

typedef struct {
    uint32_t first[MAX_MESSAGES], last[MAX_MESSAGES];
    int n;
} runs_t;

static int unknown_flags(void *ctx, const uidcache_row *row) {
    runs_t *r = ctx;
    if (row->message.has_flags) return 0;
    if (r->n > 0 && r->last[r->n - 1] + 1 == row->seq) {
        r->last[r->n - 1] = row->seq;
    } else {
        r->first[r->n] = r->last[r->n] = row->seq;
        r->n++;
    }
    return 0;
}

/* FETCH FLAGS and MODSEQ of the placed messages whose flags the cache never saw. */
static void fetch_unknown_flags(uidcache_cache *c) {
    static runs_t runs;
    runs.n = 0;
    TRY(uidcache_range(c, 1, UINT32_MAX, unknown_flags, &runs));
    if (runs.n == 0) return;
    uidcache_txn *t;
    TRY(uidcache_begin(c, &t));
    for (int i = 0; i < runs.n; i++) {
        printf("   C: FETCH %u:%u (UID FLAGS MODSEQ)\n", runs.first[i], runs.last[i]);
        for (uint32_t seq = runs.first[i]; seq <= runs.last[i]; seq++) apply_fetch(t, seq);
    }
    TRY(uidcache_txn_commit(t, UIDCACHE_DURABILITY_DEFAULT));
}

/* Every flag change is in the cache: the server's HIGHESTMODSEQ may be stored. */
static void store_highestmodseq(uidcache_cache *c) {
    uidcache_txn *t;
    TRY(uidcache_begin(c, &t));
    TRY(uidcache_txn_set_highestmodseq(t, &server.highestmodseq));
    TRY(uidcache_txn_commit(t, UIDCACHE_DURABILITY_DEFAULT));
}

static uidcache_select select_response(uint32_t fields) {
    printf("   S: * %u EXISTS / [UIDVALIDITY %u] / [UIDNEXT %u] / [HIGHESTMODSEQ %llu]\n",
           server.exists, server.uidvalidity, server.uidnext,
           (unsigned long long)server.highestmodseq);
    return (uidcache_select){fields | UIDCACHE_SELECT_UIDVALIDITY | UIDCACHE_SELECT_EXISTS |
                                 UIDCACHE_SELECT_UIDNEXT,
                             server.uidvalidity, server.exists, server.uidnext, NULL, 0};
}

/* ---- What the UI shows. ---- */
typedef struct {
    uidcache_cache *cache;
    FILE *out;
    unsigned unread;
} page_t;

static int flag_of(uidcache_cache *c, const uidcache_message *m, const char *name) {
    int has = -1;
    TRY(uidcache_has_flag(c, m, (const uint8_t *)name, strlen(name), &has));
    return has;
}

static int print_row(void *ctx, const uidcache_row *row) {
    page_t *p = ctx;
    int seen = flag_of(p->cache, &row->message, "\\Seen");
    int flagged = flag_of(p->cache, &row->message, "\\Flagged");
    char line[64];
    int n = snprintf(line, sizeof line, "%5u  UID %-5u %-7s %s", row->seq, row->message.uid,
                     seen < 0 ? "?" : seen ? "" : "unread",
                     flagged < 0 ? "?" : flagged ? "flagged" : "");
    while (n > 0 && line[n - 1] == ' ') line[--n] = '\0';
    fprintf(p->out, "%s\n", line);
    return 0;
}

static int count_unread(void *ctx, const uidcache_row *row) {
    page_t *p = ctx;
    if (flag_of(p->cache, &row->message, "\\Seen") == 0) p->unread++;
    return 0;
}

static void show(uidcache_cache *c, const char *when) {
    uidcache_counters k;
    TRY(uidcache_get_counters(c, &k));
    page_t p = {c, stdout, 0};
    TRY(uidcache_range(c, 1, UINT32_MAX, count_unread, &p));
    printf("== %s: INBOX, %u messages, %u unread; messages %d..=%d:\n", when, k.exists, p.unread,
           PAGE_FIRST, PAGE_LAST);
    TRY(uidcache_range(c, PAGE_FIRST, PAGE_LAST, print_row, &p));
}

static uidcache_cache *open_mailbox(const char *dir) {
    uidcache_cache *c;
    TRY(uidcache_open(dir, NULL, &c)); /* a durable writer, created when missing */
    return c;
}

/* ---- The three connections. ---- */
static void first_connection(const char *dir) {
    uidcache_cache *c = open_mailbox(dir);
    size_t len;
    TRY(uidcache_qresync_param(c, NULL, 0, &len));
    /* Nothing cached yet, so no QRESYNC parameter: a plain SELECT. */
    printf("   C: SELECT INBOX (CONDSTORE)\n");
    uidcache_select s = select_response(0);
    uidcache_txn *t;
    TRY(uidcache_begin(c, &t));
    TRY(uidcache_txn_record_select(t, &s, NULL));
    TRY(uidcache_txn_commit(t, UIDCACHE_DURABILITY_DEFAULT));
    fill_positions(c);
    fetch_unknown_flags(c);
    store_highestmodseq(c);
    show(c, "first connection, after the SELECT and the fill");

    /* The user opens message 60: mark it read; the server's FETCH carries the result. */
    printf("   C: UID STORE %u +FLAGS (\\Seen)\n", server.uid[60]);
    server_set_flags(60, server.flags[60] | SEEN);
    /* Meanwhile another client flags message 5, and new mail arrives. */
    server_set_flags(5, server.flags[5] | FLAGGED);
    uint32_t fresh = server_deliver();
    printf("   C: NOOP\n   S: * 5 FETCH, * %u EXISTS\n", fresh);
    TRY(uidcache_begin(c, &t));
    apply_fetch(t, 60);
    apply_fetch(t, 5);
    TRY(uidcache_txn_set_exists(t, server.exists));
    TRY(uidcache_txn_commit(t, UIDCACHE_DURABILITY_DEFAULT));
    fill_positions(c);
    fetch_unknown_flags(c);
    store_highestmodseq(c);
    printf("   C: LOGOUT\n");
    show(c, "first connection, at logout");
    /* close checkpoints (and compacts a fragmented layout) and reports errors. */
    TRY(uidcache_close(c));
}

static void qresync_reconnect(const char *dir) {
    /* While the client was away: message 10 expunged, 20 read, one new message. */
    uint32_t gone = server_expunge(10);
    server_set_flags(19, server.flags[19] | SEEN);
    server_deliver();

    uidcache_cache *c = open_mailbox(dir);
    uidcache_counters before;
    TRY(uidcache_get_counters(c, &before));
    char param[4096];
    size_t len;
    TRY(uidcache_qresync_param(c, (uint8_t *)param, sizeof param, &len));
    printf("   C: ENABLE QRESYNC\n   C: SELECT INBOX %s\n", param);
    uidcache_uid_range vanished = {gone, gone};
    uidcache_select s = select_response(UIDCACHE_SELECT_QRESYNC);
    s.vanished = &vanished;
    s.vanished_count = 1;
    printf("   S: * VANISHED (EARLIER) %u\n", gone);
    uidcache_txn *t;
    uidcache_select_outcome outcome;
    TRY(uidcache_begin(c, &t));
    TRY(uidcache_txn_record_select(t, &s, &outcome));
    /* The server sends FETCH for every message changed since the cached HIGHESTMODSEQ
     * that the cache knows; the new one is learned below. */
    for (uint32_t seq = 1; seq <= server.exists; seq++)
        if (server.modseq[seq] > before.highestmodseq && seq <= outcome.kept) apply_fetch(t, seq);
    TRY(uidcache_txn_commit(t, UIDCACHE_DURABILITY_DEFAULT));
    printf("kept by the QRESYNC SELECT: %u\n", outcome.kept);
    fill_positions(c);
    fetch_unknown_flags(c);
    store_highestmodseq(c);

    /* Another client deletes messages 150..152: `* VANISHED a:b` removes them at once. */
    uint32_t first = server_expunge(150), last = 0;
    server_expunge(150);
    last = server_expunge(150);
    printf("   C: NOOP\n   S: * VANISHED %u:%u\n", first, last);
    uidcache_uid_range range = {first, last};
    uidcache_removed removed;
    TRY(uidcache_begin(c, &t));
    TRY(uidcache_txn_remove_uids(t, &range, 1, &removed));
    TRY(uidcache_txn_commit(t, UIDCACHE_DURABILITY_DEFAULT));
    store_highestmodseq(c);
    printf("   C: LOGOUT\n");
    show(c, "second connection (QRESYNC), at logout");
    TRY(uidcache_close(c));
}

static int check_against_server(uidcache_cache *c);

static void plain_reconnect(const char *dir, const char *self) {
    /* Away again: message 1 expunged (every position moves), message 30 flagged. */
    server_expunge(1);
    server_set_flags(30, server.flags[30] | FLAGGED);

    uidcache_cache *c = open_mailbox(dir);
    uidcache_counters before;
    TRY(uidcache_get_counters(c, &before));
    /* Read before the SELECT: the flags changed since this MODSEQ are fetched below. */
    uint64_t known_modseq = before.highestmodseq;
    printf("   C: SELECT INBOX (CONDSTORE)\n");
    uidcache_select s = select_response(0);
    uidcache_txn *t;
    uidcache_select_outcome outcome;
    TRY(uidcache_begin(c, &t));
    TRY(uidcache_txn_record_select(t, &s, &outcome));
    TRY(uidcache_txn_commit(t, UIDCACHE_DURABILITY_DEFAULT));
    printf("kept by the plain SELECT: %u\n", outcome.kept);
    fill_positions(c);
    printf("   C: FETCH 1:* (UID FLAGS) (CHANGEDSINCE %llu)\n", (unsigned long long)known_modseq);
    TRY(uidcache_begin(c, &t));
    for (uint32_t seq = 1; seq <= server.exists; seq++)
        if (server.modseq[seq] > known_modseq) apply_fetch(t, seq);
    TRY(uidcache_txn_commit(t, UIDCACHE_DURABILITY_DEFAULT));
    fetch_unknown_flags(c);
    store_highestmodseq(c);
    printf("   C: LOGOUT\n");
    show(c, "third connection (no QRESYNC), after the refill");

    /* A second process reads the cache while this one still holds it as the writer. */
    char cmd[8192];
    int n = snprintf(cmd, sizeof cmd, "'%s' reader '%s' %d %d", self, dir, PAGE_FIRST, PAGE_LAST);
    if (n < 0 || (size_t)n >= sizeof cmd || strchr(dir, '\'') || strchr(self, '\'')) {
        fprintf(stderr, "client: paths too long or quoted\n");
        exit(1);
    }
    FILE *reader = popen(cmd, "r");
    if (!reader) {
        perror("client: popen");
        exit(1);
    }
    printf("== a second process, reading messages %d..=%d:\n", PAGE_FIRST, PAGE_LAST);
    char line[256];
    while (fgets(line, sizeof line, reader)) fputs(line, stdout);
    if (pclose(reader) != 0) {
        fprintf(stderr, "client: the reader failed\n");
        exit(1);
    }
    if (check_against_server(c) != 0) exit(1);
    printf("cache and server agree\n");
    TRY(uidcache_close(c));
}

/* Every message of the server, with its flags and MODSEQ, is in the cache. */
static int check_against_server(uidcache_cache *c) {
    uidcache_counters k;
    TRY(uidcache_get_counters(c, &k));
    if (k.exists != server.exists || k.highestmodseq != server.highestmodseq) {
        fprintf(stderr, "client: counters differ\n");
        return 1;
    }
    for (uint32_t seq = 1; seq <= server.exists; seq++) {
        uidcache_message m;
        bool found;
        TRY(uidcache_message_at(c, seq, &m, &found));
        unsigned flags = (flag_of(c, &m, "\\Seen") == 1 ? SEEN : 0) |
                         (flag_of(c, &m, "\\Flagged") == 1 ? FLAGGED : 0);
        if (!found || m.uid != server.uid[seq] || flags != server.flags[seq] ||
            m.modseq != server.modseq[seq]) {
            fprintf(stderr, "client: message %u differs (uid %u, server %u)\n", seq, m.uid,
                    server.uid[seq]);
            return 1;
        }
    }
    return 0;
}

static int reader_main(const char *dir, const char *first, const char *last) {
    uidcache_open_options o;
    TRY(uidcache_open_options_init(&o));
    o.flags = UIDCACHE_OPEN_READ_ONLY; /* no lock: beside the writer */
    uidcache_cache *c;
    TRY(uidcache_open(dir, &o, &c));
    page_t p = {c, stdout, 0};
    uidcache_status s = uidcache_range(c, (uint32_t)strtoul(first, NULL, 10),
                                       (uint32_t)strtoul(last, NULL, 10), print_row, &p);
    if (s == UIDCACHE_ERR_STALE) {
        /* The writer checkpointed meanwhile: read the newest state. */
        TRY(uidcache_refresh(c));
        s = uidcache_range(c, (uint32_t)strtoul(first, NULL, 10), (uint32_t)strtoul(last, NULL, 10),
                           print_row, &p);
    }
    TRY(s);
    TRY(uidcache_close(c));
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 5 && strcmp(argv[1], "reader") == 0) return reader_main(argv[2], argv[3], argv[4]);
    if (argc != 2) {
        fprintf(stderr, "usage: client DIR | client reader DIR FIRST LAST\n");
        return 2;
    }
    if (uidcache_abi_version() >> 16 != UIDCACHE_ABI_MAJOR) {
        fprintf(stderr, "client: built for ABI %d, the library is %u\n", UIDCACHE_ABI_MAJOR,
                uidcache_abi_version() >> 16);
        return 1;
    }
    server_init();
    first_connection(argv[1]);
    qresync_reconnect(argv[1]);
    plain_reconnect(argv[1], argv[0]);
    return 0;
}
