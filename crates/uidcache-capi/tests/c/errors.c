/* Error paths of the C API: NULL pointers, bad arguments, a handle of the wrong kind,
 * busy handles, a locked cache, a read-only one, a refused change, a damaged cache.
 * Usage: errors SCRATCH_DIR (an empty directory). */
#include "check.h"

#include <sys/stat.h>

static void null_pointers(const char *dir) {
    uidcache_cache *c = NULL;
    EXPECT(UIDCACHE_ERR_NULL, uidcache_open(NULL, NULL, &c));
    MESSAGE_HAS("dir is NULL");
    CHECK(c == NULL);
    EXPECT(UIDCACHE_ERR_NULL, uidcache_open(dir, NULL, NULL));
    EXPECT(UIDCACHE_ERR_NULL, uidcache_open_options_init(NULL));
    uidcache_counters counters;
    EXPECT(UIDCACHE_ERR_NULL, uidcache_get_counters(NULL, &counters));
    uidcache_message m;
    bool found;
    EXPECT(UIDCACHE_ERR_NULL, uidcache_message_at(NULL, 1, &m, &found));
    EXPECT(UIDCACHE_ERR_NULL, uidcache_begin(NULL, NULL));
    EXPECT(UIDCACHE_ERR_NULL, uidcache_txn_expunge(NULL, 1));
    EXPECT(UIDCACHE_ERR_NULL, uidcache_cursor_next(NULL, NULL, 0, NULL));
    EXPECT(UIDCACHE_ERR_NULL, uidcache_refresh(NULL));
    /* Freeing NULL is a no-op, as free(NULL) is. */
    OK(uidcache_close(NULL));
    OK(uidcache_txn_abort(NULL));
    OK(uidcache_cursor_close(NULL));

    OK(uidcache_open(dir, NULL, &c));
    EXPECT(UIDCACHE_ERR_NULL, uidcache_get_counters(c, NULL));
    EXPECT(UIDCACHE_ERR_NULL, uidcache_message_at(c, 1, NULL, &found));
    EXPECT(UIDCACHE_ERR_NULL, uidcache_message_at(c, 1, &m, NULL));
    EXPECT(UIDCACHE_ERR_NULL, uidcache_range(c, 1, 10, NULL, NULL));
    EXPECT(UIDCACHE_ERR_NULL, uidcache_segments(c, NULL, NULL));
    size_t len = 0;
    EXPECT(UIDCACHE_ERR_NULL, uidcache_qresync_param(c, NULL, 0, NULL));
    /* A NULL buffer with a zero capacity is allowed: it asks for the length. */
    OK(uidcache_qresync_param(c, NULL, 0, &len));
    CHECK(len == 0);
    EXPECT(UIDCACHE_ERR_NULL, uidcache_qresync_param(c, NULL, 10, &len));

    uidcache_txn *t = NULL;
    OK(uidcache_begin(c, &t));
    /* NULL arrays are fine with a zero count, not with a nonzero one. */
    OK(uidcache_txn_learn_range(t, 1, NULL, 0));
    EXPECT(UIDCACHE_ERR_NULL, uidcache_txn_learn_range(t, 1, NULL, 3));
    EXPECT(UIDCACHE_ERR_NULL, uidcache_txn_remove_uids(t, NULL, 1, NULL));
    EXPECT(UIDCACHE_ERR_NULL, uidcache_txn_record_select(t, NULL, NULL));
    /* A NULL value clears a counter. */
    OK(uidcache_txn_set_uidvalidity(t, NULL));
    uidcache_bytes bad_flag = {NULL, 4};
    uidcache_update update = {&bad_flag, 1, 0, 1, 0};
    OK(uidcache_txn_set_exists(t, 1));
    EXPECT(UIDCACHE_ERR_NULL, uidcache_txn_learn(t, 1, 5, &update));
    MESSAGE_HAS("update->flags[0]");
    OK(uidcache_txn_abort(t));
    OK(uidcache_close(c));
}

static int ignore_name(void *ctx, const uint8_t *name, size_t len) {
    (void)ctx;
    (void)name;
    (void)len;
    return 0;
}

static void bad_arguments(const char *dir) {
    uidcache_cache *c = NULL;
    uidcache_open_options o;
    OK(uidcache_open_options_init(&o));
    CHECK(o.size == sizeof o);
    o.flags = 1u << 30;
    EXPECT(UIDCACHE_ERR_ARGUMENT, uidcache_open(dir, &o, &c));
    MESSAGE_HAS("unknown bits");
    o.flags = 0;
    o.size = 4;
    EXPECT(UIDCACHE_ERR_ARGUMENT, uidcache_open(dir, &o, &c));
    EXPECT(UIDCACHE_ERR_ARGUMENT, uidcache_open("", NULL, &c));
    CHECK(c == NULL);

    OK(uidcache_open(dir, NULL, &c));
    uidcache_txn *t = NULL;
    OK(uidcache_begin(c, &t));
    /* A handle of another kind is refused, not misread. */
    uidcache_counters counters;
    EXPECT(UIDCACHE_ERR_ARGUMENT, uidcache_get_counters((uidcache_cache *)t, &counters));
    MESSAGE_HAS("not a uidcache_cache");
    EXPECT(UIDCACHE_ERR_ARGUMENT, uidcache_txn_expunge((uidcache_txn *)c, 1));
    /* An empty UID range, an unknown durability: refused, the transaction stays open. */
    uidcache_uid_range backwards = {9, 3};
    EXPECT(UIDCACHE_ERR_ARGUMENT, uidcache_txn_remove_uids(t, &backwards, 1, NULL));
    uidcache_select select = {1u << 9, 0, 0, 0, NULL, 0};
    EXPECT(UIDCACHE_ERR_ARGUMENT, uidcache_txn_record_select(t, &select, NULL));
    OK(uidcache_txn_set_exists(t, 3));
    EXPECT(UIDCACHE_ERR_ARGUMENT, uidcache_txn_commit(t, 77));
    /* A refused change: UIDs must increase with the sequence number. */
    uint32_t uids[] = {10, 5};
    EXPECT(UIDCACHE_ERR_INVALID_OP, uidcache_txn_learn_range(t, 1, uids, 2));
    EXPECT(UIDCACHE_ERR_INVALID_OP, uidcache_txn_expunge(t, 0));
    MESSAGE_HAS("sequence number 0");
    OK(uidcache_txn_commit(t, UIDCACHE_DURABILITY_NO_SYNC));
    OK(uidcache_get_counters(c, &counters));
    CHECK(counters.has_exists && counters.exists == 3);
    /* An unknown flag set. */
    EXPECT(UIDCACHE_ERR_ARGUMENT, uidcache_flag_names(c, 12345, ignore_name, NULL));
    MESSAGE_HAS("no flag set 12345");
    uidcache_message forged = {1, 999, 0, true, false};
    int has = 5;
    EXPECT(UIDCACHE_ERR_ARGUMENT, uidcache_has_flag(c, &forged, (const uint8_t *)"\\Seen", 5, &has));
    CHECK(has == 5);
    forged.has_flags = false; /* FLAGS never learned: the answer is -1, whatever the set */
    OK(uidcache_has_flag(c, &forged, (const uint8_t *)"\\Seen", 5, &has));
    CHECK(has == -1);
    OK(uidcache_close(c));
}

static int stop_at_once(void *ctx, const uidcache_row *row) {
    (void)row;
    ++*(int *)ctx;
    return 1;
}

static void busy_handles(const char *dir) {
    uidcache_cache *c = NULL;
    OK(uidcache_open(dir, NULL, &c));
    uidcache_txn *t = NULL;
    OK(uidcache_begin(c, &t));
    uidcache_txn *second = NULL;
    EXPECT(UIDCACHE_ERR_BUSY, uidcache_begin(c, &second));
    CHECK(second == NULL);
    uidcache_counters counters;
    EXPECT(UIDCACHE_ERR_BUSY, uidcache_get_counters(c, &counters));
    EXPECT(UIDCACHE_ERR_BUSY, uidcache_refresh(c));
    uidcache_cursor *cur = NULL;
    EXPECT(UIDCACHE_ERR_BUSY, uidcache_cursor_open(c, 1, 10, &cur));
    /* Closing a cache whose transaction is open leaves both valid. */
    EXPECT(UIDCACHE_ERR_BUSY, uidcache_close(c));
    MESSAGE_HAS("transaction");
    uint32_t uids[] = {3, 4, 9};
    OK(uidcache_txn_set_exists(t, 3));
    OK(uidcache_txn_learn_range(t, 1, uids, 3));
    OK(uidcache_txn_commit(t, UIDCACHE_DURABILITY_DEFAULT));

    OK(uidcache_cursor_open(c, 1, 10, &cur));
    EXPECT(UIDCACHE_ERR_BUSY, uidcache_begin(c, &t));
    EXPECT(UIDCACHE_ERR_BUSY, uidcache_close(c));
    MESSAGE_HAS("cursor");
    /* Reads beside a cursor are fine. */
    int calls = 0;
    OK(uidcache_range(c, 1, 3, stop_at_once, &calls));
    CHECK(calls == 1);
    OK(uidcache_cursor_close(cur));
    OK(uidcache_close(c));
}

static void locked_and_read_only(const char *dir) {
    uidcache_cache *writer = NULL, *second = NULL, *reader = NULL;
    OK(uidcache_open(dir, NULL, &writer));
    EXPECT(UIDCACHE_ERR_LOCKED, uidcache_open(dir, NULL, &second));
    MESSAGE_HAS("locked");
    CHECK(second == NULL);
    uidcache_open_options o;
    OK(uidcache_open_options_init(&o));
    o.flags = UIDCACHE_OPEN_READ_ONLY;
    OK(uidcache_open(dir, &o, &reader));
    uidcache_txn *t = NULL;
    EXPECT(UIDCACHE_ERR_READ_ONLY, uidcache_begin(reader, &t));
    CHECK(t == NULL);
    /* A reader sees the writer's commits after a refresh. */
    OK(uidcache_begin(writer, &t));
    OK(uidcache_txn_set_exists(t, 7));
    OK(uidcache_txn_commit(t, UIDCACHE_DURABILITY_DEFAULT));
    OK(uidcache_refresh(reader));
    uidcache_counters counters;
    OK(uidcache_get_counters(reader, &counters));
    CHECK(counters.exists == 7);
    OK(uidcache_close(reader));
    OK(uidcache_close(writer));
    /* The lock went with the writer. */
    OK(uidcache_open(dir, NULL, &second));
    OK(uidcache_close(second));
}

static void damaged_cache(const char *dir) {
    uidcache_cache *c = NULL;
    OK(uidcache_open(dir, NULL, &c));
    uidcache_txn *t = NULL;
    OK(uidcache_begin(c, &t));
    uint32_t uids[] = {10, 11, 12};
    OK(uidcache_txn_set_exists(t, 3));
    OK(uidcache_txn_learn_range(t, 1, uids, 3));
    OK(uidcache_txn_commit(t, UIDCACHE_DURABILITY_DEFAULT));
    OK(uidcache_close(c)); /* checkpoints: the index holds the state */

    char index[4096];
    join(index, sizeof index, dir, "index");
    FILE *f = fopen(index, "r+b");
    CHECK(f != NULL);
    CHECK(fseek(f, 20, SEEK_SET) == 0);
    int byte = fgetc(f);
    CHECK(byte != EOF);
    CHECK(fseek(f, 20, SEEK_SET) == 0);
    CHECK(fputc(byte ^ 0x08, f) != EOF);
    CHECK(fclose(f) == 0);

    EXPECT(UIDCACHE_ERR_CORRUPT, uidcache_open(dir, NULL, &c));
    MESSAGE_HAS("corrupt");
    CHECK(c == NULL);
    uidcache_open_options o;
    OK(uidcache_open_options_init(&o));
    o.flags = UIDCACHE_OPEN_REPAIR;
    OK(uidcache_open(dir, &o, &c));
    uidcache_counters counters;
    OK(uidcache_get_counters(c, &counters));
    OK(uidcache_close(c));
}

static void not_a_cache(const char *dir) {
    char file[4096];
    join(file, sizeof file, dir, "stray.txt");
    FILE *f = fopen(file, "w");
    CHECK(f != NULL && fputs("mail\n", f) >= 0 && fclose(f) == 0);
    uidcache_cache *c = NULL;
    EXPECT(UIDCACHE_ERR_NOT_A_CACHE, uidcache_open(dir, NULL, &c));
    uidcache_open_options o;
    OK(uidcache_open_options_init(&o));
    o.flags = UIDCACHE_OPEN_NO_CREATE | UIDCACHE_OPEN_READ_ONLY;
    char missing[4096];
    join(missing, sizeof missing, dir, "missing");
    CHECK(uidcache_open(missing, &o, &c) != UIDCACHE_OK);
    CHECK(c == NULL);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: errors SCRATCH_DIR\n");
        return 2;
    }
    const char *names[] = {"null", "args", "busy", "locked", "damaged", "stray"};
    char dirs[6][4096];
    for (int i = 0; i < 6; i++) {
        join(dirs[i], sizeof dirs[i], argv[1], names[i]);
        CHECK(mkdir(dirs[i], 0700) == 0);
    }
    null_pointers(dirs[0]);
    bad_arguments(dirs[1]);
    busy_handles(dirs[2]);
    locked_and_read_only(dirs[3]);
    damaged_cache(dirs[4]);
    not_a_cache(dirs[5]);
    printf("errors: all checks passed\n");
    return 0;
}
