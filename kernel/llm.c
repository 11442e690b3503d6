/*
** llm.c - hone.llm.chat: one chat completion over HTTP, with retries. See llm.h.
**
** Everything a call allocates hangs off one Call userdata whose __gc frees it, so a Lua
** error at any point (a bad argument, out of memory while building the result) leaks nothing.
*/
#include "llm.h"
#include "host.h"
#include "json.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <lauxlib.h>

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define CALL_MT "hone.llm.call"
#define ENDPOINT "/chat/completions"
#define DEFAULT_KEY_ENV "OPENAI_API_KEY"
#define MAX_REPLY ((size_t)64 << 20)   /* no chat reply is this big; a runaway server is */
#define MAX_BACKOFF_S 60.0
#define MAX_RETRY_AFTER_S 120.0        /* a server asking for more is better treated as down */
#define MAX_RETRIES 1000
#define SNIPPET 200                    /* bytes of a server's text quoted in an error */
#define SEED_LIMIT 9007199254740992.0  /* 2^53: JSON numbers are doubles to most servers */

typedef struct {
    CURL *curl;
    struct curl_slist *headers;
    cJSON *root;               /* the request; its text is body */
    char *body;
    char *reply;               /* the current attempt's body, NUL-terminated */
    size_t reply_len, reply_cap;
    int too_large, no_memory;  /* why the write callback stopped the transfer */
    double retry_after;        /* seconds from the current reply's Retry-After, < 0 if none */
    cJSON *parsed;             /* the last reply, once parsed */
    uint64_t rng;              /* jitter; per call, so concurrent states never share it */
    char errbuf[CURL_ERROR_SIZE];
} Call;

typedef struct {
    double connect_timeout, timeout, backoff;
    int retries;
    const char *url;           /* on the Lua stack for the whole call */
    const char *key;           /* from getenv; never copied anywhere but the header list */
} Options;

typedef struct {
    long status;
    const char *kind;          /* NULL: a usable reply */
    int retry;
    double retry_after;
    double latency_ms;
    char error[512];
} Attempt;

static void call_release(Call *c) {
    if (c->curl) curl_easy_cleanup(c->curl);
    curl_slist_free_all(c->headers);
    cJSON_Delete(c->root);
    cJSON_Delete(c->parsed);
    free(c->body);
    free(c->reply);
    memset(c, 0, sizeof *c);
}

static int call_gc(lua_State *L) {
    call_release(luaL_checkudata(L, 1, CALL_MT));
    return 0;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void sleep_s(double s) {
    if (!(s > 0)) return;
    struct timespec ts = {(time_t)s, (long)((s - floor(s)) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
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

static int bad(lua_State *L, const char *field, const char *what) {
    return luaL_error(L, "hone.llm.chat: request.%s %s", field, what);
}

/* Pushes request[name]; raises unless it is nil or of type t. Returns its type. */
static int field(lua_State *L, const char *name, int t) {
    int got = lua_getfield(L, 1, name);
    if (got != LUA_TNIL && got != t)
        luaL_error(L, "hone.llm.chat: request.%s must be a %s, not a %s", name,
                   lua_typename(L, t), luaL_typename(L, -1));
    return got;
}

/* The string at idx; raises if it holds a NUL, which C strings (and cJSON) cannot carry. */
static const char *text_at(lua_State *L, int idx, const char *what) {
    size_t len;
    const char *s = lua_tolstring(L, idx, &len);
    if (strlen(s) != len) luaL_error(L, "hone.llm.chat: %s holds a NUL byte", what);
    return s;
}

static double opt_number(lua_State *L, const char *name, double dflt, double min, double max) {
    if (field(L, name, LUA_TNUMBER) == LUA_TNIL) {
        lua_pop(L, 1);
        return dflt;
    }
    double v = lua_tonumber(L, -1);
    lua_pop(L, 1);
    if (!(v >= min && v <= max)) {
        char range[96];
        snprintf(range, sizeof range, "must be in [%g, %g]", min, max);
        bad(L, name, range);
    }
    return v;
}

/* request[name] as an integer, or *out untouched and 0 when absent. */
static int opt_integer(lua_State *L, const char *name, lua_Integer *out) {
    if (field(L, name, LUA_TNUMBER) == LUA_TNIL) {
        lua_pop(L, 1);
        return 0;
    }
    int isint;
    *out = lua_tointegerx(L, -1, &isint);
    lua_pop(L, 1);
    if (!isint) bad(L, name, "must be an integer");
    return 1;
}

/* Adds item to obj, freeing it when obj cannot take it. */
static void attach(lua_State *L, cJSON *obj, const char *name, cJSON *item) {
    if (item && cJSON_AddItemToObject(obj, name, item)) return;
    cJSON_Delete(item);
    luaL_error(L, "hone.llm.chat: out of memory");
}

static cJSON *checked(lua_State *L, cJSON *item) {
    if (!item) luaL_error(L, "hone.llm.chat: out of memory");
    return item;
}

static void read_messages(lua_State *L, Call *c) {
    static const char *const keys[] = {"role", "content"};
    if (lua_getfield(L, 1, "messages") != LUA_TTABLE) bad(L, "messages", "must be a table");
    lua_Integer n = luaL_len(L, -1);
    if (n < 1) bad(L, "messages", "must be a non-empty array");
    cJSON *list = checked(L, cJSON_CreateArray());
    attach(L, c->root, "messages", list);
    for (lua_Integer i = 1; i <= n; i++) {
        char what[64];
        if (lua_geti(L, -1, i) != LUA_TTABLE)
            luaL_error(L, "hone.llm.chat: request.messages[%d] must be a table", (int)i);
        cJSON *m = checked(L, cJSON_CreateObject());
        if (!cJSON_AddItemToArray(list, m)) {
            cJSON_Delete(m);
            luaL_error(L, "hone.llm.chat: out of memory");
        }
        for (int k = 0; k < 2; k++) {
            snprintf(what, sizeof what, "request.messages[%d].%s", (int)i, keys[k]);
            if (lua_getfield(L, -1, keys[k]) != LUA_TSTRING)
                luaL_error(L, "hone.llm.chat: %s must be a string", what);
            attach(L, m, keys[k], cJSON_CreateString(text_at(L, -1, what)));
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

/* Pushes the endpoint URL for request.url. */
static const char *push_url(lua_State *L) {
    if (field(L, "url", LUA_TSTRING) == LUA_TNIL) bad(L, "url", "is required");
    const char *url = text_at(L, -1, "request.url");
    size_t len = strlen(url), tail = sizeof ENDPOINT - 1;
    while (len > 0 && url[len - 1] == '/') len--;
    if (len == 0) bad(L, "url", "is empty");
    lua_pushlstring(L, url, len);
    if (len < tail || memcmp(url + len - tail, ENDPOINT, tail) != 0) {
        lua_pushliteral(L, ENDPOINT);
        lua_concat(L, 2);
    }
    lua_replace(L, -2);
    return lua_tostring(L, -1);
}

/* Validates request (index 1) into c->root and o; leaves the URL on the stack. */
static void read_request(lua_State *L, Call *c, Options *o) {
    o->url = push_url(L);
    int url_idx = lua_gettop(L);

    c->root = checked(L, cJSON_CreateObject());
    if (field(L, "model", LUA_TSTRING) == LUA_TNIL) bad(L, "model", "is required");
    attach(L, c->root, "model", cJSON_CreateString(text_at(L, -1, "request.model")));
    lua_pop(L, 1);
    read_messages(L, c);

    double v = opt_number(L, "temperature", NAN, 0, 100);
    if (!isnan(v)) attach(L, c->root, "temperature", cJSON_CreateNumber(v));
    lua_Integer n;
    if (opt_integer(L, "max_tokens", &n)) {
        if (n < 1) bad(L, "max_tokens", "must be at least 1");
        attach(L, c->root, "max_tokens", cJSON_CreateNumber((double)n));
    }
    if (opt_integer(L, "seed", &n)) {
        if ((double)n >= SEED_LIMIT || (double)n <= -SEED_LIMIT)
            bad(L, "seed", "must fit in 53 bits");
        attach(L, c->root, "seed", cJSON_CreateNumber((double)n));
    }
    if (field(L, "response_format", LUA_TTABLE) == LUA_TTABLE) {
        char err[256] = "";
        cJSON *rf = hone_json_from_lua(L, lua_gettop(L), err, sizeof err);
        if (!rf) bad(L, "response_format", *err ? err : "cannot be encoded as JSON");
        attach(L, c->root, "response_format", rf);
    }
    lua_pop(L, 1);

    o->connect_timeout = opt_number(L, "connect_timeout", 10, 0.001, 1e6);
    o->timeout = opt_number(L, "timeout", 300, 0.001, 1e6);
    o->backoff = opt_number(L, "backoff", 1.0, 0, 1e6);
    lua_Integer retries = 4;
    opt_integer(L, "retries", &retries);
    if (retries < 0 || retries > MAX_RETRIES) bad(L, "retries", "must be in [0, 1000]");
    o->retries = (int)retries;

    const char *env = DEFAULT_KEY_ENV;
    if (field(L, "api_key_env", LUA_TSTRING) == LUA_TSTRING) env = lua_tostring(L, -1);
    o->key = getenv(env);
    if (o->key && strpbrk(o->key, "\r\n"))   /* would split the header; name it, never show it */
        luaL_error(L, "hone.llm.chat: $%s holds a line break", env);
    if (o->key && !*o->key) o->key = NULL;
    lua_pop(L, 1);
    lua_settop(L, url_idx);
}

/* ---- one HTTP exchange -------------------------------------------------------------- */

static size_t on_body(char *data, size_t size, size_t n, void *ud) {
    Call *c = ud;
    size_t len = size * n;
    if (len > MAX_REPLY - c->reply_len) {
        c->too_large = 1;
        return 0;
    }
    if (c->reply_len + len + 1 > c->reply_cap) {
        size_t cap = c->reply_cap ? c->reply_cap : 16384;
        while (cap < c->reply_len + len + 1) cap *= 2;
        char *p = realloc(c->reply, cap);
        if (!p) {
            c->no_memory = 1;
            return 0;
        }
        c->reply = p;
        c->reply_cap = cap;
    }
    memcpy(c->reply + c->reply_len, data, len);
    c->reply_len += len;
    c->reply[c->reply_len] = '\0';
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
    Call *c = ud;
    size_t len = size * n;
    static const char name[] = "retry-after:";
    if (len >= 5 && memcmp(data, "HTTP/", 5) == 0)
        c->retry_after = -1;   /* a new response: after a 100 Continue, only the last counts */
    else if (len > sizeof name - 1 && strncasecmp(data, name, sizeof name - 1) == 0)
        c->retry_after = parse_retry_after(data + sizeof name - 1, len - (sizeof name - 1));
    return len;
}

/* Copies up to SNIPPET bytes of s into out as one line, without splitting a UTF-8 character. */
static void snippet(char *out, size_t outlen, const char *s, size_t len) {
    size_t n = len > SNIPPET ? SNIPPET : len;
    if (n < len)
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) n--;
    if (n + 4 > outlen) n = outlen - 4;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        out[i] = ch < 0x20 || ch == 0x7F ? ' ' : (char)ch;
    }
    strcpy(out + n, n < len ? "..." : "");
}

/* The message of an OpenAI-style error body, else the body itself. */
static void http_error(Call *c, Attempt *a) {
    char quote[SNIPPET + 4];
    const char *msg = c->reply ? c->reply : "";
    size_t len = c->reply_len;
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

static void transport_error(Call *c, const Options *o, CURLcode rc, Attempt *a) {
    const char *detail = *c->errbuf ? c->errbuf : curl_easy_strerror(rc);
    a->kind = "transport";
    a->retry = retryable_transport(rc);
    if (c->too_large || rc == CURLE_FILESIZE_EXCEEDED) {
        snprintf(a->error, sizeof a->error, "reply larger than %zu MiB (%s)", MAX_REPLY >> 20,
                 o->url);
        a->retry = 0;
        return;
    }
    if (c->no_memory) {
        snprintf(a->error, sizeof a->error, "out of memory reading the reply (%s)", o->url);
        a->retry = 0;
        return;
    }
    long oserr = 0;
    curl_off_t connected = 0;
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
        a->kind = "timeout";
        curl_easy_getinfo(c->curl, CURLINFO_CONNECT_TIME_T, &connected);
        if (connected == 0 && o->connect_timeout < o->timeout)
            snprintf(a->error, sizeof a->error, "connect timed out after %g s (%s)",
                     o->connect_timeout, o->url);
        else
            snprintf(a->error, sizeof a->error, "timed out after %g s (%s)", o->timeout, o->url);
        return;
    case CURLE_COULDNT_CONNECT:
        curl_easy_getinfo(c->curl, CURLINFO_OS_ERRNO, &oserr);
        if (oserr == ECONNREFUSED) {
            snprintf(a->error, sizeof a->error, "connection refused (%s)", o->url);
            return;
        }
        break;
    case CURLE_GOT_NOTHING:
        snprintf(a->error, sizeof a->error, "empty reply (%s)", o->url);
        return;
    case CURLE_PARTIAL_FILE:
        snprintf(a->error, sizeof a->error, "reply cut short: %s (%s)", detail, o->url);
        return;
    default:
        break;
    }
    snprintf(a->error, sizeof a->error, "%s (%s)", detail, o->url);
}

/* What a 2xx body says; fills a->kind and a->error when it is not a usable completion. */
static void check_reply(Call *c, Attempt *a) {
    const char *end = NULL;
    cJSON_Delete(c->parsed);
    c->parsed = cJSON_ParseWithLengthOpts(c->reply ? c->reply : "", c->reply_len, &end, 0);
    a->kind = "parse";
    if (!c->parsed) {
        char quote[SNIPPET + 4];
        snippet(quote, sizeof quote, c->reply ? c->reply : "", c->reply_len);
        size_t at = end && c->reply ? (size_t)(end - c->reply) : 0;
        snprintf(a->error, sizeof a->error, "reply is not JSON (byte %zu): %s", at, quote);
        return;
    }
    const cJSON *choices = cJSON_GetObjectItemCaseSensitive(c->parsed, "choices");
    const cJSON *choice = cJSON_GetArrayItem(choices, 0);
    if (!cJSON_IsArray(choices) || !cJSON_IsObject(choice)) {
        snprintf(a->error, sizeof a->error, "reply has no choices");
        return;
    }
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
        return;
    }
    a->kind = "refusal";
    const cJSON *refusal = cJSON_GetObjectItemCaseSensitive(msg, "refusal");
    const cJSON *finish = cJSON_GetObjectItemCaseSensitive(choice, "finish_reason");
    const char *why = cJSON_IsString(finish) ? finish->valuestring : "none";
    if (cJSON_IsString(refusal) && *refusal->valuestring) {
        char quote[SNIPPET + 4];
        snippet(quote, sizeof quote, refusal->valuestring, strlen(refusal->valuestring));
        snprintf(a->error, sizeof a->error, "model refused: %s", quote);
    } else if (strcmp(why, "content_filter") == 0) {
        snprintf(a->error, sizeof a->error, "reply blocked by the content filter");
    } else {
        snprintf(a->error, sizeof a->error, "reply has empty content (finish_reason %.40s)", why);
    }
}

static void perform(Call *c, const Options *o, Attempt *a) {
    c->reply_len = 0;
    if (c->reply) *c->reply = '\0';
    c->too_large = c->no_memory = 0;
    c->retry_after = -1;
    c->errbuf[0] = '\0';
    memset(a, 0, sizeof *a);

    double t0 = now_ms();
    CURLcode rc = curl_easy_perform(c->curl);
    a->latency_ms = now_ms() - t0;
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &a->status);
    a->retry_after = c->retry_after;

    if (rc != CURLE_OK) {
        transport_error(c, o, rc, a);
        return;
    }
    if (a->status < 200 || a->status > 299) {
        a->kind = "http";
        a->retry = a->status == 429 || a->status >= 500;
        http_error(c, a);
        return;
    }
    check_reply(c, a);
}

static double delay_s(Call *c, const Options *o, int attempt, const Attempt *a) {
    if (a->retry_after >= 0 && (a->status == 429 || a->status == 503))
        return fmin(a->retry_after, MAX_RETRY_AFTER_S);
    double d = fmin(o->backoff * ldexp(1.0, attempt - 1), MAX_BACKOFF_S);
    return d * (0.5 + 0.5 * uniform(&c->rng));
}

/* ---- the call --------------------------------------------------------------------------- */

static int set_headers(Call *c, const Options *o) {
    static const char *const fixed[] = {
        "Content-Type: application/json", "Accept: application/json",
        "Expect:",   /* no 100-continue round trip for large prompts */
    };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        struct curl_slist *l = curl_slist_append(c->headers, fixed[i]);
        if (!l) return -1;
        c->headers = l;
    }
    if (!o->key) return 0;
    static const char prefix[] = "Authorization: Bearer ";
    size_t len = sizeof prefix + strlen(o->key);
    char *h = malloc(len);
    if (!h) return -1;
    snprintf(h, len, "%s%s", prefix, o->key);
    struct curl_slist *l = curl_slist_append(c->headers, h);
    free(h);
    if (!l) return -1;
    c->headers = l;
    return 0;
}

static int setup_curl(Call *c, const Options *o) {
    if (!(c->curl = curl_easy_init()) || set_headers(c, o) != 0) return -1;
    CURL *h = c->curl;
    int bad = 0;
#define SET(opt, val) (bad |= curl_easy_setopt(h, opt, val) != CURLE_OK)
    SET(CURLOPT_URL, o->url);
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_NOSIGNAL, 1L);   /* timeouts must not raise SIGALRM in a Lua host */
    /* Each retry on a fresh connection: the old one may be what failed, and when a reused
       one dies silently curl resends by itself, an attempt nobody would count. */
    SET(CURLOPT_FORBID_REUSE, 1L);
    SET(CURLOPT_HTTPHEADER, c->headers);
    SET(CURLOPT_POSTFIELDS, c->body);
    SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(c->body));
    SET(CURLOPT_USERAGENT, "hone/" HONE_VERSION);
    SET(CURLOPT_ACCEPT_ENCODING, "");
    SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)MAX_REPLY);
    SET(CURLOPT_CONNECTTIMEOUT_MS, (long)(o->connect_timeout * 1e3));
    SET(CURLOPT_TIMEOUT_MS, (long)(o->timeout * 1e3));
    SET(CURLOPT_ERRORBUFFER, c->errbuf);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, c);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, c);
#undef SET
    return bad ? -1 : 0;
}

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

static lua_Integer tokens(const cJSON *usage, const char *name) {
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(usage, name);
    if (!cJSON_IsNumber(n) || !(n->valuedouble >= 0 && n->valuedouble < SEED_LIMIT)) return 0;
    return (lua_Integer)n->valuedouble;
}

/* Sets the fields that come from the parsed reply on the result at the top. */
static void set_reply_fields(lua_State *L, const Call *c, int ok) {
    const cJSON *choices = cJSON_GetObjectItemCaseSensitive(c->parsed, "choices");
    const cJSON *choice = cJSON_GetArrayItem(choices, 0);
    const cJSON *finish = cJSON_GetObjectItemCaseSensitive(choice, "finish_reason");
    const cJSON *usage = cJSON_GetObjectItemCaseSensitive(c->parsed, "usage");
    if (ok) {
        const cJSON *msg = cJSON_GetObjectItemCaseSensitive(choice, "message");
        lua_pushstring(L, cJSON_GetObjectItemCaseSensitive(msg, "content")->valuestring);
        lua_setfield(L, -2, "content");
    }
    if (cJSON_IsString(finish)) {
        lua_pushstring(L, finish->valuestring);
        lua_setfield(L, -2, "finish_reason");
    }
    lua_pushinteger(L, tokens(usage, "prompt_tokens"));
    lua_setfield(L, -2, "prompt_tokens");
    lua_pushinteger(L, tokens(usage, "completion_tokens"));
    lua_setfield(L, -2, "completion_tokens");
}

static int l_chat(lua_State *L) {
    double start = now_ms();
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    Call *c = lua_newuserdatauv(L, sizeof *c, 0);
    memset(c, 0, sizeof *c);
    luaL_setmetatable(L, CALL_MT);   /* from here __gc owns whatever c holds */

    Options o;
    read_request(L, c, &o);          /* raises on bad arguments; pushes the URL */
    c->body = cJSON_PrintUnformatted(c->root);
    if (!c->body || setup_curl(c, &o) != 0) return luaL_error(L, "hone.llm.chat: out of memory");
    c->rng = fresh_seed(c);

    lua_createtable(L, 0, 16);       /* the result */
    lua_createtable(L, o.retries + 1, 0);
    Attempt a;
    int attempts = 0;
    for (;;) {
        perform(c, &o, &a);
        attempts++;
        push_attempt(L, &a);
        lua_rawseti(L, -2, attempts);
        if (!a.kind || !a.retry || attempts > o.retries) break;
        sleep_s(delay_s(c, &o, attempts, &a));
    }
    lua_setfield(L, -2, "attempt_log");

    lua_pushboolean(L, a.kind == NULL);
    lua_setfield(L, -2, "ok");
    if (a.kind) {
        lua_pushstring(L, a.kind);
        lua_setfield(L, -2, "kind");
        lua_pushstring(L, a.error);
        lua_setfield(L, -2, "error");
    }
    if (c->parsed) {
        set_reply_fields(L, c, a.kind == NULL);
    } else {
        lua_pushinteger(L, 0);
        lua_setfield(L, -2, "prompt_tokens");
        lua_pushinteger(L, 0);
        lua_setfield(L, -2, "completion_tokens");
    }
    lua_pushinteger(L, attempts);
    lua_setfield(L, -2, "attempts");
    lua_pushinteger(L, a.status);
    lua_setfield(L, -2, "http_status");
    lua_pushstring(L, c->body);
    lua_setfield(L, -2, "request");
    lua_pushlstring(L, c->reply ? c->reply : "", c->reply_len);
    lua_setfield(L, -2, "response");
    lua_pushnumber(L, now_ms() - start);
    lua_setfield(L, -2, "latency_ms");
    call_release(c);                 /* now, not whenever the collector runs */
    return 1;
}

int hone_open_llm(lua_State *L) {
    if (luaL_newmetatable(L, CALL_MT)) {
        lua_pushcfunction(L, call_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    static const luaL_Reg fns[] = {{"chat", l_chat}, {NULL, NULL}};
    luaL_newlib(L, fns);
    return 1;
}
