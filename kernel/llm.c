/*
** llm.c - hone.llm: chat requests over HTTP through curl's multi interface, with retries,
** budgets and cache keys. See llm.h.
**
** A call of chat or batch owns one Batch userdata; every request's buffers, handles and
** attempt log hang off it and its __gc frees them, so a Lua error at any point (a bad
** argument, out of memory while building a result) leaks nothing.
*/
#include "llm.h"
#include "host.h"
#include "interrupt.h"
#include "json.h"
#include "sha256.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <lauxlib.h>

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define BATCH_MT "hone.llm.batch"
#define BUDGET_MT "hone.llm.budget"
#define MAX_REPLY ((size_t)64 << 20)   /* no chat reply is this big; a runaway server is */
#define TOO_LARGE_HEAD 4096            /* bytes kept of a reply over MAX_REPLY */
#define MIN_MASKED 8                   /* shorter keys ("EMPTY" for a local server) are not secrets */
#define MAX_BACKOFF_S 60.0
#define MAX_RETRY_AFTER_S 120.0        /* a server asking for more is better treated as down */
#define MAX_RETRIES 1000
#define MAX_CONCURRENCY 1024
#define DEFAULT_CONCURRENCY 8
#define ANTHROPIC_MAX_TOKENS 4096      /* the Messages API requires max_tokens */
#define ANTHROPIC_VERSION "anthropic-version: 2023-06-01"
#define SNIPPET 200                    /* bytes of a server's text quoted in an error */
#define SEED_LIMIT 9007199254740992.0  /* 2^53: JSON numbers are doubles to most servers */

typedef enum { FORMAT_OPENAI, FORMAT_ANTHROPIC } Format;
static const char *const format_names[] = {"openai", "anthropic", NULL};
static const char *const endpoints[] = {"/chat/completions", "/messages"};
static const char *const default_key_envs[] = {"OPENAI_API_KEY", "ANTHROPIC_API_KEY"};

/* ---- budgets ------------------------------------------------------------------------ */

enum { B_CALLS, B_PROMPT, B_COMPLETION, B_TOKENS, B_N };
static const char *const budget_names[] = {"calls", "prompt_tokens", "completion_tokens",
                                           "tokens"};

typedef struct {
    lua_Integer limit[B_N];    /* < 0: no limit */
    lua_Integer spent[B_N];    /* spent[B_TOKENS] is prompt + completion */
} Budget;

/* The first limit reached, as one line in out; 0 while there is room. */
static int budget_spent(const Budget *b, char *out, size_t outlen) {
    for (int i = 0; i < B_N; i++) {
        if (b->limit[i] >= 0 && b->spent[i] >= b->limit[i]) {
            snprintf(out, outlen, "LLM budget spent: %s %lld of %lld", budget_names[i],
                     (long long)b->spent[i], (long long)b->limit[i]);
            return 1;
        }
    }
    return 0;
}

static void budget_charge(Budget *b, lua_Integer calls, lua_Integer prompt,
                          lua_Integer completion) {
    b->spent[B_CALLS] += calls;
    b->spent[B_PROMPT] += prompt;
    b->spent[B_COMPLETION] += completion;
    b->spent[B_TOKENS] += prompt + completion;
}

static int l_budget_new(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    Budget *b = lua_newuserdatauv(L, sizeof *b, 0);
    memset(b, 0, sizeof *b);
    luaL_setmetatable(L, BUDGET_MT);
    for (int i = 0; i < B_N; i++) {
        b->limit[i] = -1;
        int t = lua_getfield(L, 1, budget_names[i]);
        if (t != LUA_TNIL) {
            int isint;
            lua_Integer v = lua_tointegerx(L, -1, &isint);
            if (!isint || v < 0)
                return luaL_error(L, "hone.llm.budget: %s must be a whole number >= 0",
                                  budget_names[i]);
            b->limit[i] = v;
        }
        lua_pop(L, 1);
    }
    lua_pushnil(L);
    while (lua_next(L, 1)) {   /* a typo in a limit must not mean "no limit" */
        int known = 0;
        for (int i = 0; i < B_N && lua_type(L, -2) == LUA_TSTRING; i++)
            known |= strcmp(lua_tostring(L, -2), budget_names[i]) == 0;
        if (!known)
            return luaL_error(L, "hone.llm.budget: unknown limit '%s' (calls, prompt_tokens, "
                              "completion_tokens, tokens)", luaL_tolstring(L, -2, NULL));
        lua_pop(L, 1);
    }
    return 1;
}

static void push_counts(lua_State *L, const lua_Integer *v) {
    lua_createtable(L, 0, B_N);
    for (int i = 0; i < B_N; i++) {
        if (v[i] < 0) continue;
        lua_pushinteger(L, v[i]);
        lua_setfield(L, -2, budget_names[i]);
    }
}

static int l_budget_spent(lua_State *L) {
    push_counts(L, ((Budget *)luaL_checkudata(L, 1, BUDGET_MT))->spent);
    return 1;
}

static int l_budget_limits(lua_State *L) {
    push_counts(L, ((Budget *)luaL_checkudata(L, 1, BUDGET_MT))->limit);
    return 1;
}

/* b:exhausted() -> nil | reason */
static int l_budget_exhausted(lua_State *L) {
    char why[160];
    if (!budget_spent(luaL_checkudata(L, 1, BUDGET_MT), why, sizeof why)) return 0;
    lua_pushstring(L, why);
    return 1;
}

/* b:charge(calls, prompt_tokens, completion_tokens): usage that did not go through
** hone.llm (a replayed reply that the run must count as if it had been sent). */
static int l_budget_charge(lua_State *L) {
    Budget *b = luaL_checkudata(L, 1, BUDGET_MT);
    lua_Integer v[3];
    for (int i = 0; i < 3; i++) {
        v[i] = luaL_optinteger(L, i + 2, 0);
        luaL_argcheck(L, v[i] >= 0, i + 2, "must be >= 0");
    }
    budget_charge(b, v[0], v[1], v[2]);
    return 0;
}

/* ---- one request -------------------------------------------------------------------- */

enum { PENDING, RUNNING, DONE };

typedef struct {
    long status;
    const char *kind;          /* NULL: a usable reply */
    int unsent;                /* a slot for why nothing was sent (budget, interrupted) */
    int retry;
    double retry_after;
    double latency_ms;
    char error[512];
} Attempt;

typedef struct {
    Format format;
    char *url;                 /* the endpoint */
    char *body;                /* the exact JSON sent */
    char key[65];              /* cache key: sha256 of format, body and seed */
    cJSON *root;               /* the request while it is built; its text is body */
    struct curl_slist *headers;/* holds the API key; freed with the request */
    char *secret;              /* the key again, to mask in what comes back; wiped when freed */
    double connect_timeout, timeout, backoff;
    int retries;
    Budget *budget;            /* anchored in the Batch's uservalue table */

    CURL *curl;
    char *reply;               /* the current attempt's body, NUL-terminated */
    size_t reply_len, reply_cap;
    int too_large, no_memory;  /* why the write callback stopped the transfer */
    double retry_after;        /* seconds from the current reply's Retry-After, < 0 if none */
    cJSON *parsed;             /* the last reply, once parsed */
    char *content;             /* its text, when usable */
    const char *finish_reason; /* inside parsed */
    lua_Integer prompt_tokens, completion_tokens;
    uint64_t rng;              /* jitter; per request, so concurrent ones never share it */
    char errbuf[CURL_ERROR_SIZE];

    int state, attempts;
    Attempt *log;              /* one per attempt */
    int log_cap;
    double ready_at, started_at, attempt_at, finished_at;   /* ms, monotonic */
} Request;

typedef struct {
    Request *reqs;
    int n;
    CURLM *multi;
} Batch;

static void request_release(Request *r) {
    if (r->curl) curl_easy_cleanup(r->curl);
    if (r->secret) explicit_bzero(r->secret, strlen(r->secret));
    free(r->secret);
    curl_slist_free_all(r->headers);
    cJSON_Delete(r->parsed);
    cJSON_Delete(r->root);
    free(r->url);
    free(r->body);
    free(r->reply);
    free(r->content);
    free(r->log);
    memset(r, 0, sizeof *r);
}

static void batch_release(Batch *b) {
    for (int i = 0; i < b->n; i++) {
        if (b->multi && b->reqs[i].curl && b->reqs[i].state == RUNNING)
            curl_multi_remove_handle(b->multi, b->reqs[i].curl);
        request_release(&b->reqs[i]);
    }
    if (b->multi) curl_multi_cleanup(b->multi);
    free(b->reqs);
    memset(b, 0, sizeof *b);
}

static int batch_gc(lua_State *L) {
    batch_release(luaL_checkudata(L, 1, BATCH_MT));
    return 0;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* splitmix64: tiny, and plenty for spreading retries apart. */
static double uniform(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (double)(z >> 11) / 9007199254740992.0;
}

static uint64_t fresh_seed(const void *salt) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000007ull ^ (uint64_t)ts.tv_nsec ^
           (uint64_t)getpid() << 32 ^ (uint64_t)(uintptr_t)salt;
}

/* ---- arguments ---------------------------------------------------------------------- */

/* Where a request is read from, and how errors name it ("hone.llm.chat: request"). */
typedef struct {
    lua_State *L;
    int idx;
    char who[64];
} Source;

static int bad(const Source *s, const char *field, const char *what) {
    return luaL_error(s->L, "%s.%s %s", s->who, field, what);
}

/* Pushes request[name]; raises unless it is nil or of type t. Returns its type. */
static int field(const Source *s, const char *name, int t) {
    int got = lua_getfield(s->L, s->idx, name);
    if (got != LUA_TNIL && got != t)
        luaL_error(s->L, "%s.%s must be a %s, not a %s", s->who, name, lua_typename(s->L, t),
                   luaL_typename(s->L, -1));
    return got;
}

/* The string at idx; raises if it holds a NUL, which C strings (and cJSON) cannot carry. */
static const char *text_at(const Source *s, int idx, const char *what) {
    size_t len;
    const char *str = lua_tolstring(s->L, idx, &len);
    if (strlen(str) != len) luaL_error(s->L, "%s.%s holds a NUL byte", s->who, what);
    return str;
}

static double opt_number(const Source *s, const char *name, double dflt, double min, double max) {
    if (field(s, name, LUA_TNUMBER) == LUA_TNIL) {
        lua_pop(s->L, 1);
        return dflt;
    }
    double v = lua_tonumber(s->L, -1);
    lua_pop(s->L, 1);
    if (!(v >= min && v <= max)) {
        char range[96];
        snprintf(range, sizeof range, "must be in [%g, %g]", min, max);
        bad(s, name, range);
    }
    return v;
}

/* request[name] as an integer, or *out untouched and 0 when absent. */
static int opt_integer(const Source *s, const char *name, lua_Integer *out) {
    if (field(s, name, LUA_TNUMBER) == LUA_TNIL) {
        lua_pop(s->L, 1);
        return 0;
    }
    int isint;
    *out = lua_tointegerx(s->L, -1, &isint);
    lua_pop(s->L, 1);
    if (!isint) bad(s, name, "must be an integer");
    return 1;
}

/* Adds item to obj, freeing it when obj cannot take it. */
static void attach(lua_State *L, cJSON *obj, const char *name, cJSON *item) {
    if (item && cJSON_AddItemToObject(obj, name, item)) return;
    cJSON_Delete(item);
    luaL_error(L, "hone.llm: out of memory");
}

static cJSON *checked(lua_State *L, cJSON *item) {
    if (!item) luaL_error(L, "hone.llm: out of memory");
    return item;
}

static void append(lua_State *L, cJSON *list, cJSON *item) {
    if (cJSON_AddItemToArray(list, item)) return;
    cJSON_Delete(item);
    luaL_error(L, "hone.llm: out of memory");
}

/* The length of the UTF-8 character at s (n bytes left), or 0 if none starts there: no
** overlong forms, no surrogates, nothing past U+10FFFF (RFC 3629). */
static size_t utf8_char(const unsigned char *s, size_t n) {
    if (s[0] < 0x80) return 1;
    size_t len = s[0] >= 0xC2 && s[0] <= 0xDF ? 2 : s[0] >= 0xE0 && s[0] <= 0xEF ? 3
               : s[0] >= 0xF0 && s[0] <= 0xF4 ? 4 : 0;
    if (len == 0 || len > n) return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    if (len == 3 && s[0] == 0xE0 && s[1] < 0xA0) return 0;   /* overlong */
    if (len == 3 && s[0] == 0xED && s[1] >= 0xA0) return 0;  /* surrogate */
    if (len == 4 && s[0] == 0xF0 && s[1] < 0x90) return 0;   /* overlong */
    if (len == 4 && s[0] == 0xF4 && s[1] >= 0x90) return 0;  /* past U+10FFFF */
    return len;
}

/* A JSON string of text, which must be valid UTF-8 for a server to take the body (a model's
** stray bytes, echoed back, would make every later request fail): each byte that does not
** start a valid character is replaced by U+FFFD. Raises only when out of memory. */
static cJSON *utf8_string(lua_State *L, const char *text) {
    const unsigned char *u = (const unsigned char *)text;
    size_t len = strlen(text), bad = 0;
    for (size_t i = 0, k; i < len; i += k ? k : 1)
        if (!(k = utf8_char(u + i, len - i))) bad++;
    if (bad == 0) return checked(L, cJSON_CreateString(text));
    char *clean = malloc(len + bad * 2 + 1), *p = clean;
    if (!clean) luaL_error(L, "hone.llm: out of memory");
    for (size_t i = 0, k; i < len; i += k ? k : 1) {
        if ((k = utf8_char(u + i, len - i))) {
            memcpy(p, text + i, k);
            p += k;
        } else {
            memcpy(p, "\xEF\xBF\xBD", 3);
            p += 3;
        }
    }
    *p = '\0';
    cJSON *j = cJSON_CreateString(clean);
    free(clean);
    return checked(L, j);
}

/* Joins the strings of parts with blank lines; NULL when out of memory. */
static char *join_parts(const cJSON *parts) {
    size_t len = 1;
    const cJSON *p;
    cJSON_ArrayForEach(p, parts) len += strlen(p->valuestring) + 2;
    char *out = malloc(len), *at = out;
    if (!out) return NULL;
    cJSON_ArrayForEach(p, parts) {
        if (at != out) {
            memcpy(at, "\n\n", 2);
            at += 2;
        }
        size_t n = strlen(p->valuestring);
        memcpy(at, p->valuestring, n);
        at += n;
    }
    *at = '\0';
    return out;
}

/* Messages into root. The Messages API takes system text apart from the turns, so for
** Anthropic the system messages are joined into "system". */
static void read_messages(const Source *s, Format format, cJSON *root) {
    lua_State *L = s->L;
    if (field(s, "messages", LUA_TTABLE) != LUA_TTABLE) bad(s, "messages", "must be a table");
    lua_Integer n = luaL_len(L, -1);
    if (n < 1) bad(s, "messages", "must be a non-empty array");
    cJSON *list = checked(L, cJSON_CreateArray());
    attach(L, root, "messages", list);
    cJSON *system = checked(L, cJSON_CreateArray());
    attach(L, root, "system", system);   /* owned by root until replaced below */
    for (lua_Integer i = 1; i <= n; i++) {
        static const char *const keys[] = {"role", "content"};
        const char *text[2];
        if (lua_geti(L, -1, i) != LUA_TTABLE)
            luaL_error(L, "%s.messages[%d] must be a table", s->who, (int)i);
        for (int k = 0; k < 2; k++) {
            char what[64];
            snprintf(what, sizeof what, "messages[%d].%s", (int)i, keys[k]);
            if (lua_getfield(L, -1 - k, keys[k]) != LUA_TSTRING)
                luaL_error(L, "%s.%s must be a string", s->who, what);
            text[k] = text_at(s, -1, what);
        }
        if (format == FORMAT_ANTHROPIC && strcmp(text[0], "system") == 0) {
            append(L, system, utf8_string(L, text[1]));
        } else {
            cJSON *m = checked(L, cJSON_CreateObject());
            append(L, list, m);
            attach(L, m, "role", utf8_string(L, text[0]));
            attach(L, m, "content", utf8_string(L, text[1]));
        }
        lua_pop(L, 3);
    }
    lua_pop(L, 1);
    if (cJSON_GetArraySize(system) == 0) {
        cJSON_DeleteItemFromObjectCaseSensitive(root, "system");
        return;
    }
    char *joined = join_parts(system);
    cJSON *text = joined ? cJSON_CreateString(joined) : NULL;
    free(joined);
    if (!text || !cJSON_ReplaceItemInObjectCaseSensitive(root, "system", text)) {
        cJSON_Delete(text);
        luaL_error(L, "hone.llm: out of memory");
    }
    if (cJSON_GetArraySize(list) == 0) bad(s, "messages", "has no user or assistant turn");
}

static int find_format(const char *name) {
    for (int i = 0; format_names[i]; i++)
        if (strcmp(name, format_names[i]) == 0) return i;
    return -1;
}

/* r->url: base with the format's endpoint appended, unless base already ends with it. */
static void read_url(const Source *s, Request *r) {
    if (field(s, "url", LUA_TSTRING) == LUA_TNIL) bad(s, "url", "is required");
    const char *base = text_at(s, -1, "url");
    const char *tail = endpoints[r->format];
    size_t len = strlen(base), tlen = strlen(tail);
    while (len > 0 && base[len - 1] == '/') len--;
    if (len == 0) bad(s, "url", "is empty");
    int has_tail = len >= tlen && memcmp(base + len - tlen, tail, tlen) == 0;
    if (!(r->url = malloc(len + tlen + 1))) luaL_error(s->L, "hone.llm: out of memory");
    memcpy(r->url, base, len);
    strcpy(r->url + len, has_tail ? "" : tail);
    lua_pop(s->L, 1);
}

static int add_header(Request *r, const char *h) {
    struct curl_slist *l = curl_slist_append(r->headers, h);
    if (!l) return -1;
    r->headers = l;
    return 0;
}

/* The key goes into the header list and nowhere else. */
static void set_headers(const Source *s, Request *r, const char *key) {
    static const char *const fixed[] = {
        "Content-Type: application/json", "Accept: application/json",
        "Expect:",   /* no 100-continue round trip for large prompts */
    };
    int fail = 0;
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) fail |= add_header(r, fixed[i]);
    if (r->format == FORMAT_ANTHROPIC) fail |= add_header(r, ANTHROPIC_VERSION);
    if (key) {
        const char *prefix = r->format == FORMAT_ANTHROPIC ? "x-api-key: " : "Authorization: Bearer ";
        size_t len = strlen(prefix) + strlen(key) + 1;
        char *h = malloc(len);
        if (h) {
            snprintf(h, len, "%s%s", prefix, key);
            fail |= add_header(r, h);
            explicit_bzero(h, len);
            free(h);
        } else {
            fail = 1;
        }
        if (strlen(key) >= MIN_MASKED && !(r->secret = strdup(key))) fail = 1;
    }
    if (fail) luaL_error(s->L, "hone.llm: out of memory");
}

static void read_key(const Source *s, Request *r) {
    const char *env = default_key_envs[r->format];
    if (field(s, "api_key_env", LUA_TSTRING) == LUA_TSTRING) env = lua_tostring(s->L, -1);
    const char *key = getenv(env);
    for (const unsigned char *c = (const unsigned char *)key; c && *c; c++)
        if (*c < 0x20 || *c == 0x7F)   /* a line break would split the header; name it, never show it */
            luaL_error(s->L, "%s: $%s holds a control character (a line break?)", s->who, env);
    set_headers(s, r, key && *key ? key : NULL);
    lua_pop(s->L, 1);
}

static void make_key(Request *r, const lua_Integer *seed) {
    Sha256 h;
    char tail[48] = "";
    sha256_init(&h);
    sha256_update(&h, format_names[r->format], strlen(format_names[r->format]));
    sha256_update(&h, "\n", 1);
    sha256_update(&h, r->body, strlen(r->body));
    if (seed) snprintf(tail, sizeof tail, "\nseed=%lld", (long long)*seed);
    sha256_update(&h, tail, strlen(tail));
    sha256_hex(&h, r->key);
}

/* Validates the request at s->idx into r: URL, headers, body and key. */
static void read_request(const Source *s, Request *r) {
    lua_State *L = s->L;
    int top = lua_gettop(L);
    luaL_checkstack(L, 8, "hone.llm");
    if (lua_type(L, s->idx) != LUA_TTABLE) luaL_error(L, "%s must be a table", s->who);
    r->format = FORMAT_OPENAI;
    if (field(s, "format", LUA_TSTRING) == LUA_TSTRING) {
        int f = find_format(lua_tostring(L, -1));
        if (f < 0) bad(s, "format", "must be \"openai\" or \"anthropic\"");
        r->format = (Format)f;
    }
    lua_pop(L, 1);
    read_url(s, r);

    cJSON *root = r->root = checked(L, cJSON_CreateObject());
    if (field(s, "model", LUA_TSTRING) == LUA_TNIL) bad(s, "model", "is required");
    attach(L, root, "model", utf8_string(L, text_at(s, -1, "model")));
    lua_pop(L, 1);
    lua_Integer n = r->format == FORMAT_ANTHROPIC ? ANTHROPIC_MAX_TOKENS : 0;
    if (opt_integer(s, "max_tokens", &n) && n < 1) bad(s, "max_tokens", "must be at least 1");
    if (n > 0) attach(L, root, "max_tokens", cJSON_CreateNumber((double)n));
    read_messages(s, r->format, root);
    double v = opt_number(s, "temperature", NAN, 0, 100);
    if (!isnan(v)) attach(L, root, "temperature", cJSON_CreateNumber(v));
    lua_Integer seed;
    int has_seed = opt_integer(s, "seed", &seed);
    if (has_seed && ((double)seed >= SEED_LIMIT || (double)seed <= -SEED_LIMIT))
        bad(s, "seed", "must fit in 53 bits");
    if (has_seed && r->format == FORMAT_OPENAI)   /* the Messages API has no seed */
        attach(L, root, "seed", cJSON_CreateNumber((double)seed));
    if (field(s, "response_format", LUA_TTABLE) == LUA_TTABLE) {
        if (r->format == FORMAT_ANTHROPIC) bad(s, "response_format", "is not in the anthropic format");
        char err[256] = "";
        cJSON *rf = hone_json_from_lua(L, lua_gettop(L), err, sizeof err);
        if (!rf) bad(s, "response_format", *err ? err : "cannot be encoded as JSON");
        attach(L, root, "response_format", rf);
    }
    lua_pop(L, 1);

    r->connect_timeout = opt_number(s, "connect_timeout", 10, 0.001, 1e6);
    r->timeout = opt_number(s, "timeout", 300, 0.001, 1e6);
    r->backoff = opt_number(s, "backoff", 1.0, 0, 1e6);
    lua_Integer retries = 4;
    opt_integer(s, "retries", &retries);
    if (retries < 0 || retries > MAX_RETRIES) bad(s, "retries", "must be in [0, 1000]");
    r->retries = (int)retries;
    if (lua_getfield(L, s->idx, "budget") != LUA_TNIL) {
        /* the request table on the caller's stack keeps the budget alive for the call */
        if (!(r->budget = luaL_testudata(L, -1, BUDGET_MT))) bad(s, "budget", "must come from hone.llm.budget");
    }
    lua_pop(L, 1);
    read_key(s, r);

    if (!(r->body = cJSON_PrintUnformatted(root))) luaL_error(L, "hone.llm: out of memory");
    cJSON_Delete(root);
    r->root = NULL;
    make_key(r, has_seed ? &seed : NULL);
    lua_settop(L, top);
}

/* ---- one HTTP exchange -------------------------------------------------------------- */

static size_t on_body(char *data, size_t size, size_t n, void *ud) {
    Request *r = ud;
    size_t len = size * n;
    if (len > MAX_REPLY - r->reply_len) {
        r->too_large = 1;
        return 0;
    }
    if (r->reply_len + len + 1 > r->reply_cap) {
        size_t cap = r->reply_cap ? r->reply_cap : 16384;
        while (cap < r->reply_len + len + 1) cap *= 2;
        if (cap > MAX_REPLY + 1) cap = MAX_REPLY + 1;   /* the most it can ever hold */
        char *p = realloc(r->reply, cap);
        if (!p) {
            r->no_memory = 1;
            return 0;
        }
        r->reply = p;
        r->reply_cap = cap;
    }
    memcpy(r->reply + r->reply_len, data, len);
    r->reply_len += len;
    r->reply[r->reply_len] = '\0';
    return len;
}

/* Retry-After is either seconds or an HTTP date. */
static double parse_retry_after(const char *v, size_t len) {
    char buf[64];
    while (len > 0 && (*v == ' ' || *v == '\t')) v++, len--;
    while (len > 0 && (v[len - 1] == '\r' || v[len - 1] == '\n' || v[len - 1] == ' ')) len--;
    if (len == 0 || len >= sizeof buf) return -1;
    memcpy(buf, v, len);
    buf[len] = '\0';
    if (strspn(buf, "0123456789") == len) return strtod(buf, NULL);
    time_t when = curl_getdate(buf, NULL);
    if (when == -1) return -1;
    double s = difftime(when, time(NULL));
    return s > 0 ? s : 0;
}

static size_t on_header(char *data, size_t size, size_t n, void *ud) {
    Request *r = ud;
    size_t len = size * n;
    static const char name[] = "retry-after:";
    if (len >= 5 && memcmp(data, "HTTP/", 5) == 0)
        r->retry_after = -1;   /* a new response: after a 100 Continue, only the last counts */
    else if (len > sizeof name - 1 && strncasecmp(data, name, sizeof name - 1) == 0)
        r->retry_after = parse_retry_after(data + sizeof name - 1, len - (sizeof name - 1));
    return len;
}

/* Copies up to SNIPPET bytes of s (and fewer than outlen - 3) into out as one line, without
** splitting a UTF-8 character. */
static void snippet(char *out, size_t outlen, const char *s, size_t len) {
    size_t n = len > SNIPPET ? SNIPPET : len;
    if (n + 4 > outlen) n = outlen - 4;
    if (n < len)
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) n--;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        out[i] = ch < 0x20 || ch == 0x7F ? ' ' : (char)ch;
    }
    strcpy(out + n, n < len ? "..." : "");
}

/* The message of an OpenAI- or Anthropic-style error body, else the body itself. */
static void http_error(Request *r, Attempt *a) {
    char quote[SNIPPET + 4];
    const char *msg = r->reply ? r->reply : "";
    size_t len = r->reply_len;
    cJSON *j = cJSON_ParseWithLength(msg, len);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
    const cJSON *m = cJSON_IsObject(e) ? cJSON_GetObjectItemCaseSensitive(e, "message")
                     : cJSON_IsString(e) ? e
                     : cJSON_GetObjectItemCaseSensitive(j, "message");
    if (cJSON_IsString(m)) {
        msg = m->valuestring;
        len = strlen(msg);
    }
    snippet(quote, sizeof quote, msg, len);
    snprintf(a->error, sizeof a->error, "HTTP %ld%s%s", a->status, *quote ? ": " : "", quote);
    cJSON_Delete(j);
}

/* Overwrites every occurrence of secret in buf with '*': a server (a careless proxy, an
** error page) may quote the key back, and what it sends is stored, shown and logged. */
static void mask(char *buf, size_t len, const char *secret) {
    size_t n = secret ? strlen(secret) : 0;
    if (!buf || n == 0) return;
    for (char *p = buf; (size_t)(buf + len - p) >= n;) {
        char *hit = memchr(p, secret[0], (size_t)(buf + len - p) - n + 1);
        if (!hit) return;
        if (memcmp(hit, secret, n) == 0) {
            memset(hit, '*', n);
            p = hit + n;
        } else {
            p = hit + 1;
        }
    }
}

static void mask_string(char *text, const char *secret) {
    if (text) mask(text, strlen(text), secret);
}

/* A reply cut for being too large keeps only its first bytes, enough to see what it was:
** the 64 MiB read so far would only weigh on the store and on memory. */
static void keep_head(Request *r) {
    if (r->reply_len <= TOO_LARGE_HEAD) return;
    r->reply_len = TOO_LARGE_HEAD;
    while (r->reply_len > 0 && ((unsigned char)r->reply[r->reply_len] & 0xC0) == 0x80) r->reply_len--;
    r->reply[r->reply_len] = '\0';
    char *p = realloc(r->reply, TOO_LARGE_HEAD + 1);
    if (p) {
        r->reply = p;
        r->reply_cap = TOO_LARGE_HEAD + 1;
    }
}

static int retryable_transport(CURLcode rc) {
    switch (rc) {
    case CURLE_UNSUPPORTED_PROTOCOL: case CURLE_URL_MALFORMAT: case CURLE_NOT_BUILT_IN:
    case CURLE_FAILED_INIT: case CURLE_OUT_OF_MEMORY: case CURLE_BAD_FUNCTION_ARGUMENT:
    case CURLE_WRITE_ERROR: case CURLE_FILESIZE_EXCEEDED: case CURLE_TOO_MANY_REDIRECTS:
    case CURLE_PEER_FAILED_VERIFICATION: case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE: case CURLE_LOGIN_DENIED:
        return 0;   /* the same request would fail the same way */
    default:
        return 1;
    }
}

static void transport_error(Request *r, CURLcode rc, Attempt *a) {
    const char *detail = *r->errbuf ? r->errbuf : curl_easy_strerror(rc);
    a->kind = "transport";
    a->retry = retryable_transport(rc);
    if (r->too_large || rc == CURLE_FILESIZE_EXCEEDED) {
        snprintf(a->error, sizeof a->error, "reply larger than %zu MiB (%s)", MAX_REPLY >> 20,
                 r->url);
        a->retry = 0;
        keep_head(r);
        return;
    }
    if (r->no_memory) {
        snprintf(a->error, sizeof a->error, "out of memory reading the reply (%s)", r->url);
        a->retry = 0;
        return;
    }
    long oserr = 0;
    curl_off_t connected = 0;
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
        a->kind = "timeout";
        curl_easy_getinfo(r->curl, CURLINFO_CONNECT_TIME_T, &connected);
        if (connected == 0 && r->connect_timeout < r->timeout)
            snprintf(a->error, sizeof a->error, "connect timed out after %g s (%s)",
                     r->connect_timeout, r->url);
        else
            snprintf(a->error, sizeof a->error, "timed out after %g s (%s)", r->timeout, r->url);
        return;
    case CURLE_COULDNT_CONNECT:
        curl_easy_getinfo(r->curl, CURLINFO_OS_ERRNO, &oserr);
        if (oserr == ECONNREFUSED) {
            snprintf(a->error, sizeof a->error, "connection refused (%s)", r->url);
            return;
        }
        break;
    case CURLE_GOT_NOTHING:
        snprintf(a->error, sizeof a->error, "empty reply (%s)", r->url);
        return;
    case CURLE_PARTIAL_FILE:
        snprintf(a->error, sizeof a->error, "reply cut short: %s (%s)", detail, r->url);
        return;
    default:
        break;
    }
    snprintf(a->error, sizeof a->error, "%s (%s)", detail, r->url);
}

static lua_Integer count(const cJSON *usage, const char *name) {
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(usage, name);
    if (!cJSON_IsNumber(n) || !(n->valuedouble >= 0 && n->valuedouble < SEED_LIMIT)) return 0;
    return (lua_Integer)n->valuedouble;
}

/* The empty-content verdict: a refusal, the content filter, or nothing at all. */
static void refusal(Attempt *a, const cJSON *said, const char *why) {
    a->kind = "refusal";
    if (cJSON_IsString(said) && *said->valuestring) {
        char quote[SNIPPET + 4];
        snippet(quote, sizeof quote, said->valuestring, strlen(said->valuestring));
        snprintf(a->error, sizeof a->error, "model refused: %s", quote);
    } else if (strcmp(why, "content_filter") == 0 || strcmp(why, "refusal") == 0) {
        snprintf(a->error, sizeof a->error, "reply blocked by the content filter");
    } else {   /* why is the server's text: one line of it, like any quote */
        char reason[44];
        snippet(reason, sizeof reason, why, strlen(why));
        snprintf(a->error, sizeof a->error, "reply has empty content (finish_reason %s)", reason);
    }
}

static void set_content(Request *r, Attempt *a, const char *text) {
    if ((r->content = strdup(text))) return;
    a->kind = "transport";
    snprintf(a->error, sizeof a->error, "out of memory reading the reply (%s)", r->url);
}

static void openai_reply(Request *r, Attempt *a) {
    const cJSON *usage = cJSON_GetObjectItemCaseSensitive(r->parsed, "usage");
    r->prompt_tokens = count(usage, "prompt_tokens");
    r->completion_tokens = count(usage, "completion_tokens");
    const cJSON *choices = cJSON_GetObjectItemCaseSensitive(r->parsed, "choices");
    const cJSON *choice = cJSON_GetArrayItem(choices, 0);
    if (!cJSON_IsArray(choices) || !cJSON_IsObject(choice)) {
        snprintf(a->error, sizeof a->error, "reply has no choices");
        return;
    }
    const cJSON *finish = cJSON_GetObjectItemCaseSensitive(choice, "finish_reason");
    if (cJSON_IsString(finish)) r->finish_reason = finish->valuestring;
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(choice, "message");
    if (!cJSON_IsObject(msg)) {
        snprintf(a->error, sizeof a->error, "reply has no message");
        return;
    }
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(msg, "content");
    if (content && !cJSON_IsString(content) && !cJSON_IsNull(content)) {
        snprintf(a->error, sizeof a->error, "reply content is not a string");
        return;
    }
    if (cJSON_IsString(content) && *content->valuestring) {
        a->kind = NULL;
        set_content(r, a, content->valuestring);
        return;
    }
    refusal(a, cJSON_GetObjectItemCaseSensitive(msg, "refusal"),
            r->finish_reason ? r->finish_reason : "none");
}

/* Messages API: the text blocks of content, joined. */
static void anthropic_reply(Request *r, Attempt *a) {
    const cJSON *usage = cJSON_GetObjectItemCaseSensitive(r->parsed, "usage");
    r->prompt_tokens = count(usage, "input_tokens");
    r->completion_tokens = count(usage, "output_tokens");
    const cJSON *stop = cJSON_GetObjectItemCaseSensitive(r->parsed, "stop_reason");
    if (cJSON_IsString(stop)) r->finish_reason = stop->valuestring;
    const cJSON *blocks = cJSON_GetObjectItemCaseSensitive(r->parsed, "content");
    if (!cJSON_IsArray(blocks)) {
        snprintf(a->error, sizeof a->error, "reply has no content blocks");
        return;
    }
    cJSON *texts = cJSON_CreateArray();
    const cJSON *b;
    cJSON_ArrayForEach(b, blocks) {
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(b, "text");
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(b, "type");
        if (cJSON_IsString(type) && strcmp(type->valuestring, "text") == 0 && cJSON_IsString(text) &&
            *text->valuestring)
            cJSON_AddItemToArray(texts, cJSON_CreateStringReference(text->valuestring));
    }
    if (cJSON_GetArraySize(texts) > 0) {
        char *joined = join_parts(texts);
        a->kind = NULL;
        if (joined) {
            r->content = joined;
        } else {
            a->kind = "transport";
            snprintf(a->error, sizeof a->error, "out of memory reading the reply (%s)", r->url);
        }
    } else {
        refusal(a, NULL, r->finish_reason ? r->finish_reason : "none");
    }
    cJSON_Delete(texts);
}

/* What a 2xx body says; fills a->kind and a->error when it is not a usable completion. */
static void check_reply(Request *r, Attempt *a) {
    const char *end = NULL;
    cJSON_Delete(r->parsed);
    free(r->content);
    r->content = NULL;
    r->finish_reason = NULL;
    r->parsed = cJSON_ParseWithLengthOpts(r->reply ? r->reply : "", r->reply_len, &end, 0);
    a->kind = "parse";
    if (!r->parsed) {
        char quote[SNIPPET + 4];
        snippet(quote, sizeof quote, r->reply ? r->reply : "", r->reply_len);
        size_t at = end && r->reply ? (size_t)(end - r->reply) : 0;
        char why[64];
        hone_json_fault(r->reply ? r->reply : "", r->reply_len, at, why, sizeof why);
        snprintf(a->error, sizeof a->error, "reply is not JSON (%s at byte %zu): %s", why, at, quote);
        return;
    }
    if (r->format == FORMAT_ANTHROPIC) anthropic_reply(r, a);
    else openai_reply(r, a);
}

/* Fills a from a complete HTTP exchange: a->status, r's reply and Retry-After. */
static void judge_exchange(Request *r, Attempt *a) {
    a->retry_after = r->retry_after;
    if (a->status < 200 || a->status > 299) {
        a->kind = "http";
        a->retry = a->status == 429 || a->status >= 500;
        http_error(r, a);
        return;
    }
    check_reply(r, a);
}

/* Fills a from a finished transfer. */
static void judge(Request *r, CURLcode rc, Attempt *a) {
    a->latency_ms = now_ms() - r->attempt_at;
    curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &a->status);
    if (rc != CURLE_OK) {
        a->retry_after = r->retry_after;
        transport_error(r, rc, a);
        return;
    }
    judge_exchange(r, a);
}

static double delay_ms(Request *r, const Attempt *a) {
    if (a->retry_after >= 0 && (a->status == 429 || a->status == 503))
        return fmin(a->retry_after, MAX_RETRY_AFTER_S) * 1e3;
    double d = fmin(r->backoff * ldexp(1.0, r->attempts - 1), MAX_BACKOFF_S);
    return d * (0.5 + 0.5 * uniform(&r->rng)) * 1e3;
}

static int setup_curl(Request *r) {
    if (!(r->curl = curl_easy_init())) return -1;
    CURL *h = r->curl;
    int bad = 0;
#define SET(opt, val) (bad |= curl_easy_setopt(h, opt, val) != CURLE_OK)
    SET(CURLOPT_URL, r->url);
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_NOSIGNAL, 1L);   /* timeouts must not raise SIGALRM in a Lua host */
    /* Each retry on a fresh connection: the old one may be what failed, and when a reused
       one dies silently curl resends by itself, an attempt nobody would count. */
    SET(CURLOPT_FORBID_REUSE, 1L);
    SET(CURLOPT_HTTPHEADER, r->headers);
    SET(CURLOPT_POSTFIELDS, r->body);
    SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(r->body));
    SET(CURLOPT_USERAGENT, "hone/" HONE_VERSION);
    SET(CURLOPT_ACCEPT_ENCODING, "");
    SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)MAX_REPLY);
    SET(CURLOPT_CONNECTTIMEOUT_MS, (long)(r->connect_timeout * 1e3));
    SET(CURLOPT_TIMEOUT_MS, (long)(r->timeout * 1e3));
    SET(CURLOPT_ERRORBUFFER, r->errbuf);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, r);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, r);
    SET(CURLOPT_PRIVATE, r);
#undef SET
    return bad ? -1 : 0;
}

/* ---- the event loop ----------------------------------------------------------------- */

/* The slot for the next attempt; when the log cannot grow, the last slot is reused. */
static Attempt *next_slot(Request *r) {
    if (r->attempts >= r->log_cap) {
        int cap = r->log_cap ? r->log_cap * 2 : 2;
        Attempt *p = realloc(r->log, (size_t)cap * sizeof *p);
        if (p) {
            r->log = p;
            r->log_cap = cap;
        }
    }
    int i = r->attempts < r->log_cap ? r->attempts : r->log_cap - 1;
    memset(&r->log[i], 0, sizeof r->log[i]);
    return &r->log[i];
}

static Attempt *last_attempt(Request *r) {
    return &r->log[(r->attempts < r->log_cap ? r->attempts : r->log_cap) - 1];
}

static void finish(Request *r, int *done) {
    r->state = DONE;
    r->finished_at = now_ms();
    (*done)++;
}

/* Starts r's next attempt, or finishes it without sending when its budget is spent. */
static void start(Batch *b, Request *r, int *running, int *done) {
    char why[160];
    if (r->budget && budget_spent(r->budget, why, sizeof why)) {
        Attempt *a = next_slot(r);   /* a slot, not an attempt: nothing is sent */
        a->kind = "budget";
        a->unsent = 1;
        snprintf(a->error, sizeof a->error, "%s", why);
        r->attempts++;
        a->status = 0;
        finish(r, done);
        return;
    }
    if (r->attempts == 0 && r->budget) budget_charge(r->budget, 1, 0, 0);
    r->reply_len = 0;
    if (r->reply) *r->reply = '\0';
    r->too_large = r->no_memory = 0;
    r->retry_after = -1;
    r->errbuf[0] = '\0';
    r->attempt_at = now_ms();
    if (curl_multi_add_handle(b->multi, r->curl) != CURLM_OK) {
        Attempt *a = next_slot(r);
        a->kind = "transport";
        snprintf(a->error, sizeof a->error, "cannot start the transfer (%s)", r->url);
        r->attempts++;
        finish(r, done);
        return;
    }
    r->state = RUNNING;
    (*running)++;
}

static void collect(Batch *b, int *running, int *done) {
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(b->multi, &left))) {
        if (m->msg != CURLMSG_DONE) continue;
        Request *r = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        CURLcode rc = m->data.result;
        curl_multi_remove_handle(b->multi, r->curl);
        (*running)--;
        Attempt *a = next_slot(r);
        mask(r->reply, r->reply_len, r->secret);   /* before anything quotes it */
        judge(r, rc, a);
        /* JSON escapes may spell the key in ways the raw body does not show */
        mask_string(r->content, r->secret);
        mask_string(a->error, r->secret);
        if (r->finish_reason) mask_string((char *)r->finish_reason, r->secret);
        r->attempts++;
        if (r->budget && r->parsed && (a->kind == NULL || strcmp(a->kind, "refusal") == 0))
            budget_charge(r->budget, 0, r->prompt_tokens, r->completion_tokens);
        if (a->kind && a->retry && r->attempts <= r->retries) {
            r->state = PENDING;
            r->ready_at = now_ms() + delay_ms(r, a);
        } else {
            finish(r, done);
        }
    }
}

/* hone was interrupted (interrupt.h): every request not finished ends now, kind
** "interrupted". A transfer in flight is aborted and counts as an attempt; a request waiting
** to start or to retry makes no new one. */
static void interrupt_all(Batch *b, int *running, int *done) {
    for (int i = 0; i < b->n; i++) {
        Request *r = &b->reqs[i];
        if (r->state == DONE) continue;
        int was_running = r->state == RUNNING;
        if (was_running) {
            curl_multi_remove_handle(b->multi, r->curl);
            (*running)--;
        }
        Attempt *a = next_slot(r);
        a->kind = "interrupted";
        a->unsent = !was_running;
        a->latency_ms = was_running ? now_ms() - r->attempt_at : 0;
        snprintf(a->error, sizeof a->error, "interrupted by %s before the reply arrived",
                 hone_interrupted() == SIGINT ? "SIGINT" : "SIGTERM");
        r->attempts++;
        finish(r, done);
    }
}

/* Runs every request to its end, at most concurrency transfers at once. */
static void run_batch(Batch *b, int concurrency) {
    int running = 0, done = 0;
    double t0 = now_ms();
    for (int i = 0; i < b->n; i++) {
        b->reqs[i].state = PENDING;
        b->reqs[i].ready_at = b->reqs[i].started_at = t0;
    }
    while (done < b->n) {
        if (hone_interrupted()) {   /* a signal also cuts curl_multi_poll short (EINTR) */
            interrupt_all(b, &running, &done);
            break;
        }
        double now = now_ms(), wake = now + 1000;
        for (int i = 0; i < b->n && running < concurrency; i++) {
            Request *r = &b->reqs[i];
            if (r->state != PENDING) continue;
            if (r->ready_at > now) {
                wake = fmin(wake, r->ready_at);
                continue;
            }
            start(b, r, &running, &done);   /* in request order: the first asked go first */
        }
        for (int i = 0; i < b->n; i++)
            if (b->reqs[i].state == PENDING && b->reqs[i].ready_at > now)
                wake = fmin(wake, b->reqs[i].ready_at);
        int still;
        curl_multi_perform(b->multi, &still);
        collect(b, &running, &done);
        if (done == b->n) break;
        int ready = 0;
        for (int i = 0; i < b->n && !ready; i++)
            ready = b->reqs[i].state == PENDING && b->reqs[i].ready_at <= now_ms() && running < concurrency;
        double wait = ready ? 0 : fmax(0, wake - now_ms());
        curl_multi_poll(b->multi, NULL, 0, (int)ceil(fmin(wait, 1000)), NULL);
    }
}

/* ---- results ------------------------------------------------------------------------ */

static void push_attempt(lua_State *L, const Attempt *a) {
    lua_createtable(L, 0, 5);
    lua_pushinteger(L, a->status);
    lua_setfield(L, -2, "http_status");
    lua_pushnumber(L, a->latency_ms);
    lua_setfield(L, -2, "latency_ms");
    if (a->retry_after >= 0) {
        lua_pushnumber(L, a->retry_after);
        lua_setfield(L, -2, "retry_after");
    }
    if (a->kind) {
        lua_pushstring(L, a->kind);
        lua_setfield(L, -2, "kind");
        lua_pushstring(L, a->error);
        lua_setfield(L, -2, "error");
    }
}

static void set_string(lua_State *L, const char *name, const char *value) {
    lua_pushstring(L, value);
    lua_setfield(L, -2, name);
}

static void set_integer(lua_State *L, const char *name, lua_Integer value) {
    lua_pushinteger(L, value);
    lua_setfield(L, -2, name);
}

static void push_result(lua_State *L, Request *r) {
    Attempt *a = last_attempt(r);
    int sent = r->attempts - a->unsent;
    lua_createtable(L, 0, 18);
    lua_createtable(L, sent, 0);
    for (int i = 0; i < sent && i < r->log_cap; i++) {
        push_attempt(L, &r->log[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "attempt_log");
    lua_pushboolean(L, a->kind == NULL);
    lua_setfield(L, -2, "ok");
    if (a->kind) {
        set_string(L, "kind", a->kind);
        set_string(L, "error", a->error);
    }
    if (r->content && !a->kind) set_string(L, "content", r->content);
    if (r->finish_reason) set_string(L, "finish_reason", r->finish_reason);
    set_integer(L, "prompt_tokens", r->parsed ? r->prompt_tokens : 0);
    set_integer(L, "completion_tokens", r->parsed ? r->completion_tokens : 0);
    set_integer(L, "attempts", sent);
    set_integer(L, "http_status", a->status);
    set_string(L, "format", format_names[r->format]);
    set_string(L, "url", r->url);
    set_string(L, "key", r->key);
    set_string(L, "request", r->body);
    lua_pushlstring(L, r->reply ? r->reply : "", r->reply_len);
    lua_setfield(L, -2, "response");
    lua_pushnumber(L, r->finished_at - r->started_at);
    lua_setfield(L, -2, "latency_ms");
}

/* ---- the Lua API -------------------------------------------------------------------- */

static Batch *new_batch(lua_State *L, lua_Integer n) {
    Batch *b = lua_newuserdatauv(L, sizeof *b, 0);
    memset(b, 0, sizeof *b);
    luaL_setmetatable(L, BATCH_MT);   /* from here __gc owns whatever b holds */
    if (n > 0 && !(b->reqs = calloc((size_t)n, sizeof *b->reqs))) luaL_error(L, "hone.llm: out of memory");
    b->n = (int)n;
    return b;
}

static void prepare_all(lua_State *L, Batch *b, int list, const char *fn) {
    for (int i = 0; i < b->n; i++) {
        Source s = {L, 0, ""};
        if (list) {
            lua_geti(L, list, i + 1);
            snprintf(s.who, sizeof s.who, "hone.llm.%s: requests[%d]", fn, i + 1);
        } else {
            lua_pushvalue(L, 1);
            snprintf(s.who, sizeof s.who, "hone.llm.%s: request", fn);
        }
        s.idx = lua_gettop(L);
        Request *r = &b->reqs[i];
        read_request(&s, r);
        lua_pop(L, 1);
        if (setup_curl(r) != 0) luaL_error(L, "hone.llm: out of memory");
        r->rng = fresh_seed(r);
    }
    if (!(b->multi = curl_multi_init())) luaL_error(L, "hone.llm: out of memory");
}

/* hone.llm.chat(request) -> result */
static int l_chat(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    Batch *b = new_batch(L, 1);
    prepare_all(L, b, 0, "chat");
    run_batch(b, 1);
    push_result(L, &b->reqs[0]);
    batch_release(b);   /* now, not whenever the collector runs */
    return 1;
}

/* hone.llm.batch(requests [, {concurrency = n}]) -> results, in request order */
static int l_batch(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_Integer concurrency = DEFAULT_CONCURRENCY;
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        if (lua_getfield(L, 2, "concurrency") != LUA_TNIL) {
            int isint;
            concurrency = lua_tointegerx(L, -1, &isint);
            if (!isint || concurrency < 1 || concurrency > MAX_CONCURRENCY)
                return luaL_error(L, "hone.llm.batch: concurrency must be a whole number in [1, %d]",
                                  MAX_CONCURRENCY);
        }
    }
    lua_settop(L, 1);
    lua_Integer n = luaL_len(L, 1);
    if (n > INT32_MAX / 2) return luaL_error(L, "hone.llm.batch: too many requests");
    Batch *b = new_batch(L, n);
    prepare_all(L, b, 1, "batch");
    run_batch(b, (int)concurrency);
    lua_createtable(L, (int)n, 0);
    for (int i = 0; i < b->n; i++) {
        push_result(L, &b->reqs[i]);
        lua_rawseti(L, -2, i + 1);
    }
    batch_release(b);
    return 1;
}

/* hone.llm.prepare(request) -> {body, key, url, format}: what chat would send, unsent. */
static int l_prepare(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    Batch *b = new_batch(L, 1);
    Source s = {L, 1, "hone.llm.prepare: request"};
    read_request(&s, &b->reqs[0]);
    lua_createtable(L, 0, 4);
    set_string(L, "body", b->reqs[0].body);
    set_string(L, "key", b->reqs[0].key);
    set_string(L, "url", b->reqs[0].url);
    set_string(L, "format", format_names[b->reqs[0].format]);
    batch_release(b);
    return 1;
}

/* ---- for tests and fuzzing --------------------------------------------------------- */

int hone_llm_judge(const char *format, long status, const char *header, size_t header_len,
                   const char *body, size_t len, HoneLlmVerdict *v) {
    memset(v, 0, sizeof *v);
    int f = find_format(format);
    if (f < 0) return -1;
    Request r;
    Attempt a;
    memset(&r, 0, sizeof r);
    memset(&a, 0, sizeof a);
    r.format = (Format)f;
    r.backoff = 1.0;
    r.rng = 1;
    r.retry_after = -1;
    if (!(r.url = strdup("offline"))) return -1;
    /* Through the transfer's own callbacks, so that what is judged is what a transfer keeps. */
    if (header) on_header((char *)header, 1, header_len, &r);
    a.status = status;
    if (on_body((char *)body, 1, len, &r) != len) transport_error(&r, CURLE_WRITE_ERROR, &a);
    else judge_exchange(&r, &a);
    r.attempts = 1;
    v->kind = a.kind;
    v->retry = a.retry;
    v->retry_after = a.retry_after;
    v->wait_s = a.kind && a.retry ? delay_ms(&r, &a) / 1e3 : 0;
    memcpy(v->error, a.error, sizeof v->error);
    if (!a.kind) {
        v->content = r.content;   /* the verdict's from here */
        r.content = NULL;
    }
    if (r.finish_reason) v->finish_reason = strdup(r.finish_reason);
    v->prompt_tokens = r.parsed ? r.prompt_tokens : 0;
    v->completion_tokens = r.parsed ? r.completion_tokens : 0;
    request_release(&r);
    return 0;
}

void hone_llm_verdict_free(HoneLlmVerdict *v) {
    free(v->content);
    free(v->finish_reason);
    v->content = v->finish_reason = NULL;
}

int hone_open_llm(lua_State *L) {
    if (luaL_newmetatable(L, BATCH_MT)) {
        lua_pushcfunction(L, batch_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    if (luaL_newmetatable(L, BUDGET_MT)) {
        static const luaL_Reg methods[] = {
            {"spent", l_budget_spent}, {"limits", l_budget_limits},
            {"exhausted", l_budget_exhausted}, {"charge", l_budget_charge}, {NULL, NULL}};
        luaL_newlib(L, methods);
        lua_setfield(L, -2, "__index");
    }
    lua_pop(L, 1);
    static const luaL_Reg fns[] = {{"chat", l_chat}, {"batch", l_batch}, {"prepare", l_prepare},
                                   {"budget", l_budget_new}, {NULL, NULL}};
    luaL_newlib(L, fns);
    return 1;
}
