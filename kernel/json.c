/*
** json.c - hone.json. See json.h.
**
** cJSON parses, prints and holds the tree. Two things it cannot carry are kept beside it:
** exact numbers (it holds doubles, losing integers beyond 2^53 and the integer/float
** distinction) and strings with NUL bytes (it holds C strings). Encoding writes those as
** cJSON_Raw text. Decoding lets cJSON validate the input and give the tree its shape, then
** reads every number and string again from the input text: both are visited in document
** order, so a cursor over the text's tokens keeps step with a walk over the tree.
*/
#include "json.h"

#include <lauxlib.h>

#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* encode refuses deeper tables rather than recurse; the limit decode has from cJSON, so that
** whatever decodes encodes */
#define MAX_DEPTH CJSON_NESTING_LIMIT
#define EXACT_LIMIT 9007199254740992.0   /* 2^53: integers up to here are exact in a double */
#define PLAIN_LIMIT 1000000000000000LL  /* 10^15: integers below it print as integers in cJSON */

/* Their addresses are what matters: the value of hone.json.null, and the registry key of
** the array mark's metatable. */
static const char null_sentinel = 'n';
static const char array_mark = 'a';

/* Pushes the array mark's metatable, creating it on first use. */
static void push_array_mt(lua_State *L) {
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &array_mark) == LUA_TTABLE) return;
    lua_pop(L, 1);
    lua_createtable(L, 0, 1);
    lua_pushliteral(L, "hone.json.array");
    lua_setfield(L, -2, "__name");
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &array_mark);
}

/* True if the table at idx carries the array mark. Allocates nothing, so never raises. */
static int has_array_mark(lua_State *L, int idx) {
    if (!lua_getmetatable(L, idx)) return 0;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &array_mark);
    int marked = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    return marked;
}

/* ---- encoding ---------------------------------------------------------------------- */

/* One step of the path from the encoded root to the value being encoded. */
typedef struct Step {
    const void *table;      /* the table this step entered, for cycle detection; or NULL */
    const char *key;        /* object key, or NULL when the step is an integer index */
    size_t keylen;
    lua_Integer index;
} Step;

typedef struct Encoder {
    lua_State *L;
    int depth;                      /* steps taken; path[0] is the root */
    Step path[MAX_DEPTH + 2];
    char *err;
    size_t errlen;
} Encoder;

/* An object member waiting to be sorted. Integer keys keep their text inline. */
typedef struct Member {
    const char *str;        /* string key (anchored by the table), or NULL: see num */
    size_t len;
    char num[32];
    cJSON *value;           /* owned by the member until attached to the object */
} Member;

static const char *member_key(const Member *m) { return m->str ? m->str : m->num; }

static void add(Encoder *e, size_t *at, const char *fmt, ...) {
    if (*at >= e->errlen) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(e->err + *at, e->errlen - *at, fmt, ap);
    va_end(ap);
    if (n > 0) *at += (size_t)n;
}

static int is_identifier(const char *s, size_t len) {
    if (len == 0 || len > 64 || !(s[0] == '_' || ((s[0] | 32) >= 'a' && (s[0] | 32) <= 'z')))
        return 0;
    for (size_t i = 1; i < len; i++) {
        char c = s[i];
        if (!(c == '_' || (c >= '0' && c <= '9') || ((c | 32) >= 'a' && (c | 32) <= 'z'))) return 0;
    }
    return 1;
}

static void add_path(Encoder *e, size_t *at) {
    add(e, at, " at $");
    for (int i = 1; i <= e->depth; i++) {
        const Step *s = &e->path[i];
        if (!s->key) {
            add(e, at, "[" LUA_INTEGER_FMT "]", (LUAI_UACINT)s->index);
        } else if (is_identifier(s->key, s->keylen)) {
            add(e, at, ".%.*s", (int)s->keylen, s->key);
        } else {
            add(e, at, "[\"");
            for (size_t k = 0; k < s->keylen && k < 40; k++) {
                unsigned char c = (unsigned char)s->key[k];
                if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') add(e, at, "%c", c);
                else add(e, at, "\\x%02x", c);
            }
            add(e, at, s->keylen > 40 ? "...\"]" : "\"]");
        }
    }
}

/* Writes "json: <reason> at <path>" into the caller's buffer; returns NULL for the caller. */
static cJSON *fail(Encoder *e, const char *fmt, ...) {
    if (!e->err || e->errlen == 0) return NULL;
    size_t at = 0;
    add(e, &at, "json: ");
    if (at < e->errlen) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(e->err + at, e->errlen - at, fmt, ap);
        va_end(ap);
        if (n > 0) at += (size_t)n;
    }
    add_path(e, &at);
    return NULL;
}

static cJSON *made(Encoder *e, cJSON *j) {
    return j ? j : fail(e, "out of memory");
}

/* The shortest %g text that reads back as d, marked as a float so that decode keeps it one. */
static void format_float(double d, char *buf, size_t size) {
    for (int digits = 15; digits <= 17; digits++) {
        snprintf(buf, size, "%.*g", digits, d);
        if (strtod(buf, NULL) == d) break;
    }
    /* printf follows the C locale's decimal point; JSON wants '.' */
    char point = localeconv()->decimal_point[0];
    char *p = point != '.' ? strchr(buf, point) : NULL;
    if (p) *p = '.';
    if (!strpbrk(buf, ".e")) strncat(buf, ".0", size - strlen(buf) - 1);
}

static cJSON *encode_number(Encoder *e, int idx) {
    lua_State *L = e->L;
    char buf[64];
    if (lua_isinteger(L, idx)) {
        lua_Integer n = lua_tointeger(L, idx);
        /* cJSON prints with %.15g, which writes 1234567890123470 as 1.23456789012347e+15:
           a float to decode. Below 10^15 that is the integer's own text. */
        if (n > -PLAIN_LIMIT && n < PLAIN_LIMIT) return made(e, cJSON_CreateNumber((double)n));
        snprintf(buf, sizeof buf, LUA_INTEGER_FMT, (LUAI_UACINT)n);
        return made(e, cJSON_CreateRaw(buf));
    }
    double d = (double)lua_tonumber(L, idx);
    if (isnan(d)) return fail(e, "cannot encode NaN");
    if (isinf(d)) return fail(e, "cannot encode %s", d > 0 ? "inf" : "-inf");
    format_float(d, buf, sizeof buf);
    return made(e, cJSON_CreateRaw(buf));
}

/* A string with NUL bytes, escaped the way cJSON escapes, plus \u0000. */
static cJSON *encode_binary_string(Encoder *e, const char *s, size_t len) {
    if (len > (((size_t)-1) - 3) / 6) return fail(e, "out of memory");
    char *buf = malloc(len * 6 + 3);
    if (!buf) return fail(e, "out of memory");
    char *p = buf;
    *p++ = '"';
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"':  *p++ = '\\'; *p++ = '"'; break;
        case '\\': *p++ = '\\'; *p++ = '\\'; break;
        case '\b': *p++ = '\\'; *p++ = 'b'; break;
        case '\f': *p++ = '\\'; *p++ = 'f'; break;
        case '\n': *p++ = '\\'; *p++ = 'n'; break;
        case '\r': *p++ = '\\'; *p++ = 'r'; break;
        case '\t': *p++ = '\\'; *p++ = 't'; break;
        default:
            if (c < 0x20) p += sprintf(p, "\\u%04x", c);
            else *p++ = (char)c;
        }
    }
    *p++ = '"';
    *p = '\0';
    cJSON *j = cJSON_CreateRaw(buf);
    free(buf);
    return made(e, j);
}

static cJSON *encode_value(Encoder *e, int idx);

/* Encodes the value on top of the stack as the next step of the path, then pops it. */
static cJSON *encode_step(Encoder *e, const char *key, size_t keylen, lua_Integer index) {
    Step *s = &e->path[++e->depth];
    s->table = NULL;
    s->key = key;
    s->keylen = keylen;
    s->index = index;
    cJSON *j = encode_value(e, lua_gettop(e->L));
    e->depth--;
    lua_pop(e->L, 1);
    return j;
}

static cJSON *encode_array(Encoder *e, int idx, lua_Integer n) {
    cJSON *array = cJSON_CreateArray();
    if (!array) return fail(e, "out of memory");
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(e->L, idx, i);
        cJSON *item = encode_step(e, NULL, 0, i);
        if (!item) {
            cJSON_Delete(array);
            return NULL;
        }
        cJSON_AddItemToArray(array, item);
    }
    return array;
}

static int member_cmp(const void *a, const void *b) {
    const Member *x = a, *y = b;
    size_t xl = x->len, yl = y->len;
    int c = memcmp(member_key(x), member_key(y), xl < yl ? xl : yl);
    if (c) return c;
    return xl < yl ? -1 : xl > yl;
}

/* Encodes the n members of the table at idx into members[], in traversal order.
** Returns how many were encoded; fewer than n means failure (reason already written). */
static size_t encode_members(Encoder *e, int idx, Member *members, size_t n) {
    lua_State *L = e->L;
    int top = lua_gettop(L);
    size_t k = 0;
    lua_pushnil(L);
    while (k < n && lua_next(L, idx)) {
        Member *m = &members[k];
        m->value = NULL;
        if (lua_type(L, -2) == LUA_TSTRING) {
            m->str = lua_tolstring(L, -2, &m->len);
            if (memchr(m->str, '\0', m->len)) {
                fail(e, "cannot encode a key holding a NUL byte");
                break;
            }
            m->value = encode_step(e, m->str, m->len, 0);
        } else if (lua_isinteger(L, -2)) {
            lua_Integer i = lua_tointeger(L, -2);
            m->str = NULL;
            m->len = (size_t)snprintf(m->num, sizeof m->num, LUA_INTEGER_FMT, (LUAI_UACINT)i);
            m->value = encode_step(e, NULL, 0, i);
        } else {
            fail(e, "cannot encode a %s key in an object",
                 lua_type(L, -2) == LUA_TNUMBER ? "non-integer number" : luaL_typename(L, -2));
            break;
        }
        if (!m->value) break;
        k++;
    }
    lua_settop(L, top);
    return k;
}

static cJSON *encode_object(Encoder *e, int idx, size_t n) {
    Member *members = malloc(n * sizeof *members);
    if (!members) return fail(e, "out of memory");
    size_t k = encode_members(e, idx, members, n);
    cJSON *object = NULL;
    if (k == n) {
        qsort(members, n, sizeof *members, member_cmp);
        size_t i = 1;
        while (i < n && member_cmp(&members[i - 1], &members[i]) != 0) i++;
        if (i < n)   /* integer 1 and string "1" both claim the key "1" */
            fail(e, "cannot encode duplicate key \"%s\"", member_key(&members[i]));
        else
            object = made(e, cJSON_CreateObject());
    }
    for (size_t i = 0; object && i < k; i++) {
        if (!cJSON_AddItemToObject(object, member_key(&members[i]), members[i].value)) {
            cJSON_Delete(object);
            object = fail(e, "out of memory");
            break;
        }
        members[i].value = NULL;
    }
    for (size_t i = 0; i < k; i++) cJSON_Delete(members[i].value);
    free(members);
    return object;
}

/* Counts the keys of the table at idx and tells whether they are all integers and whether
** they are exactly 1..n (n distinct integers are, when they all lie within 1..n).
** Allocates nothing, so never raises. */
static lua_Integer scan_keys(lua_State *L, int idx, int *sequence, int *integers) {
    lua_Integer n = 0, min = LUA_MAXINTEGER, max = LUA_MININTEGER;
    *integers = 1;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        n++;
        if (*integers && lua_isinteger(L, -2)) {
            lua_Integer k = lua_tointeger(L, -2);
            if (k < min) min = k;
            if (k > max) max = k;
        } else {
            *integers = 0;
        }
        lua_pop(L, 1);
    }
    *sequence = *integers && (n == 0 || (min == 1 && max == n));
    return n;
}

static cJSON *encode_table(Encoder *e, int idx) {
    lua_State *L = e->L;
    const void *self = lua_topointer(L, idx);
    for (int i = 0; i < e->depth; i++)
        if (e->path[i].table == self) return fail(e, "cannot encode a cycle (a table inside itself)");
    if (e->depth >= MAX_DEPTH) return fail(e, "cannot encode tables nested deeper than %d", MAX_DEPTH);
    if (!lua_checkstack(L, 4)) return fail(e, "out of memory");
    e->path[e->depth].table = self;

    int sequence, integers;
    lua_Integer n = scan_keys(L, idx, &sequence, &integers);
    if (has_array_mark(L, idx)) {
        if (!sequence) return fail(e, "cannot encode an array-marked table with keys other than 1..n");
        return encode_array(e, idx, n);
    }
    if (n == 0) return made(e, cJSON_CreateObject());
    if (sequence) return encode_array(e, idx, n);
    if (integers) return fail(e, "cannot encode a sparse array (integer keys other than 1..n)");
    return encode_object(e, idx, (size_t)n);
}

static cJSON *encode_value(Encoder *e, int idx) {
    lua_State *L = e->L;
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        return made(e, cJSON_CreateNull());
    case LUA_TBOOLEAN:
        return made(e, cJSON_CreateBool(lua_toboolean(L, idx)));
    case LUA_TNUMBER:
        return encode_number(e, idx);
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        if (memchr(s, '\0', len)) return encode_binary_string(e, s, len);
        return made(e, cJSON_CreateString(s));
    }
    case LUA_TTABLE:
        return encode_table(e, idx);
    case LUA_TLIGHTUSERDATA:
        if (lua_touserdata(L, idx) == &null_sentinel) return made(e, cJSON_CreateNull());
        return fail(e, "cannot encode a userdata value");
    default:
        return fail(e, "cannot encode a %s value", luaL_typename(L, idx));
    }
}

cJSON *hone_json_from_lua(lua_State *L, int idx, char *err, size_t errlen) {
    /* Every Lua call below reads or pops; none allocates, so none can raise. */
    Encoder *e = malloc(sizeof *e);
    if (!e) {
        if (err && errlen) snprintf(err, errlen, "json: out of memory");
        return NULL;
    }
    e->L = L;
    e->depth = 0;
    e->path[0].table = NULL;
    e->err = err;
    e->errlen = errlen;
    if (err && errlen) err[0] = '\0';
    int top = lua_gettop(L);
    cJSON *j = encode_value(e, lua_absindex(L, idx));
    lua_settop(L, top);
    free(e);
    return j;
}

static int push_cstring(lua_State *L) {
    lua_pushstring(L, (const char *)lua_touserdata(L, 1));
    return 1;
}

static int l_encode(lua_State *L) {
    luaL_checkany(L, 1);
    int indent = 0;
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        lua_getfield(L, 2, "indent");
        indent = lua_toboolean(L, -1);
        lua_pop(L, 1);
    }
    char err[1024];
    cJSON *j = hone_json_from_lua(L, 1, err, sizeof err);
    if (!j) return luaL_error(L, "%s", err);
    char *text = indent ? cJSON_Print(j) : cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!text) return luaL_error(L, "json: out of memory");
    /* Copy the text under protection so that a memory error cannot leak it. */
    lua_pushcfunction(L, push_cstring);
    lua_pushlightuserdata(L, text);
    int status = lua_pcall(L, 1, 1, 0);
    cJSON_free(text);
    if (status != LUA_OK) return lua_error(L);
    return 1;
}

/* ---- decoding ---------------------------------------------------------------------- */

/* Walks the tokens of the input text that the tree cannot hold exactly. */
typedef struct Cursor {
    const char *p, *end;
    int ok;                 /* 0 once text and tree disagree: use cJSON's values from then on */
    const char *refused;    /* where a value decode refuses starts, and why */
    const char *why;
} Cursor;

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* Finds the next string or number token; returns '"' or '0' for its kind, 0 at the end. */
static int next_token(Cursor *c, const char **start, size_t *len) {
    const char *p = c->p, *end = c->end;
    while (p < end && *p != '"' && *p != '-' && !is_digit(*p)) p++;
    if (p == end) return 0;
    *start = p;
    int kind;
    if (*p == '"') {
        for (p++; p < end && *p != '"'; p++)
            if (*p == '\\' && p + 1 < end) p++;
        if (p < end) p++;
        kind = '"';
    } else {
        while (p < end && (is_digit(*p) || strchr("+-.eE", *p))) p++;
        kind = '0';
    }
    *len = (size_t)(p - *start);
    c->p = p;
    return kind;
}

/* The next token, which the tree says is of this kind; NULL (and the cursor retired) if not. */
static const char *expect(Cursor *c, int kind, size_t *len) {
    const char *start;
    if (!c || !c->ok) return NULL;
    if (next_token(c, &start, len) == kind) return start;
    c->ok = 0;
    return NULL;
}

static int hex4(const char *p, const char *end, unsigned *out) {
    if (end - p < 4) return 0;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char h = p[i];
        v <<= 4;
        if (is_digit(h)) v |= (unsigned)(h - '0');
        else if ((h | 32) >= 'a' && (h | 32) <= 'f') v |= (unsigned)((h | 32) - 'a' + 10);
        else return 0;
    }
    *out = v;
    return 1;
}

static void add_utf8(luaL_Buffer *b, unsigned cp) {
    char u[4];
    int n;
    if (cp < 0x80) { u[0] = (char)cp; n = 1; }
    else if (cp < 0x800) { u[0] = (char)(0xC0 | cp >> 6); n = 2; }
    else if (cp < 0x10000) { u[0] = (char)(0xE0 | cp >> 12); n = 3; }
    else { u[0] = (char)(0xF0 | cp >> 18); n = 4; }
    for (int i = n - 1; i > 0; i--, cp >>= 6) u[i] = (char)(0x80 | (cp & 0x3F));
    luaL_addlstring(b, u, (size_t)n);
}

/* Pushes the string a quoted JSON token spells. cJSON has already validated it. */
static void push_string_token(lua_State *L, const char *tok, size_t len) {
    const char *p = tok + 1, *end = tok + len - 1;
    if (!memchr(p, '\\', (size_t)(end - p))) {
        lua_pushlstring(L, p, (size_t)(end - p));
        return;
    }
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    while (p < end) {
        const char *bs = memchr(p, '\\', (size_t)(end - p));
        if (!bs) bs = end;
        luaL_addlstring(&b, p, (size_t)(bs - p));
        p = bs;
        if (p + 1 >= end) break;
        char c = p[1];
        p += 2;
        switch (c) {
        case 'b': luaL_addchar(&b, '\b'); break;
        case 'f': luaL_addchar(&b, '\f'); break;
        case 'n': luaL_addchar(&b, '\n'); break;
        case 'r': luaL_addchar(&b, '\r'); break;
        case 't': luaL_addchar(&b, '\t'); break;
        case 'u': {
            unsigned cp, low;
            if (!hex4(p, end, &cp)) break;
            p += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF && end - p >= 6 && p[0] == '\\' && p[1] == 'u'
                && hex4(p + 2, end, &low) && low >= 0xDC00 && low <= 0xDFFF) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                p += 6;
            }
            add_utf8(&b, cp);
            break;
        }
        default: luaL_addchar(&b, c); break;   /* \" \\ \/ */
        }
    }
    luaL_pushresult(&b);
}

/* Pushes an integer if the text is one that fits; returns 0 (pushing nothing) otherwise. */
static int push_integer_text(lua_State *L, const char *s, size_t len) {
    size_t i = s[0] == '-';
    if (i == len) return 0;
    lua_Unsigned v = 0, limit = (lua_Unsigned)LUA_MAXINTEGER + (i ? 1u : 0u);
    for (; i < len; i++) {
        if (!is_digit(s[i])) return 0;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (limit - d) / 10) return 0;
        v = v * 10 + d;
    }
    lua_pushinteger(L, s[0] == '-' ? (lua_Integer)(0u - v) : (lua_Integer)v);
    return 1;
}

/* Stops the decoding at tok (or where the cursor is), for a value encode would refuse. */
static void refuse(lua_State *L, Cursor *c, const char *tok, const char *why) {
    c->refused = tok ? tok : c->p;
    c->why = why;
    luaL_error(L, "json: %s", why);
}

static void push_number(lua_State *L, const cJSON *j, Cursor *c) {
    size_t len;
    const char *tok = expect(c, '0', &len);
    if (c && isinf(j->valuedouble)) refuse(L, c, tok, "number out of range");   /* 1e400 */
    if (tok) {
        if (!push_integer_text(L, tok, len)) lua_pushnumber(L, (lua_Number)j->valuedouble);
        return;
    }
    double d = j->valuedouble;
    if (floor(d) == d && fabs(d) <= EXACT_LIMIT) lua_pushinteger(L, (lua_Integer)d);
    else lua_pushnumber(L, (lua_Number)d);
}

/* Returns where the string's token starts, or NULL when the cursor has retired. */
static const char *push_string(lua_State *L, const char *s, Cursor *c) {
    size_t len;
    const char *tok = expect(c, '"', &len);
    if (tok) push_string_token(L, tok, len);
    else lua_pushstring(L, s ? s : "");
    return tok;
}

static void push_value(lua_State *L, const cJSON *j, Cursor *c, int depth) {
    if (depth > CJSON_NESTING_LIMIT) luaL_error(L, "json: nesting deeper than %d", CJSON_NESTING_LIMIT);
    luaL_checkstack(L, 3, "json: nesting too deep");
    switch (j->type & 0xFF) {
    case cJSON_False: lua_pushboolean(L, 0); break;
    case cJSON_True: lua_pushboolean(L, 1); break;
    case cJSON_NULL: lua_pushlightuserdata(L, (void *)&null_sentinel); break;
    case cJSON_Number: push_number(L, j, c); break;
    case cJSON_String: push_string(L, j->valuestring, c); break;
    case cJSON_Raw:
        if (!j->valuestring || !lua_stringtonumber(L, j->valuestring)) lua_pushstring(L, j->valuestring);
        break;
    case cJSON_Array: {
        lua_createtable(L, cJSON_GetArraySize(j), 0);
        push_array_mt(L);
        lua_setmetatable(L, -2);
        lua_Integer i = 1;
        for (const cJSON *item = j->child; item; item = item->next) {
            push_value(L, item, c, depth + 1);
            lua_rawseti(L, -2, i++);
        }
        break;
    }
    case cJSON_Object:
        lua_createtable(L, 0, cJSON_GetArraySize(j));
        for (const cJSON *item = j->child; item; item = item->next) {
            const char *tok = push_string(L, item->string, c);
            size_t len;
            const char *key = lua_tolstring(L, -1, &len);
            if (c && memchr(key, '\0', len)) refuse(L, c, tok, "key holds a NUL byte");
            push_value(L, item, c, depth + 1);
            lua_rawset(L, -3);
        }
        break;
    default:
        lua_pushnil(L);
    }
}

void hone_json_push(lua_State *L, const cJSON *j) {
    push_value(L, j, NULL, 0);
}

static int push_decoded(lua_State *L) {
    push_value(L, lua_touserdata(L, 1), lua_touserdata(L, 2), 0);
    return 1;
}

/* Nesting depth and string state at pos, to name the fault cJSON stopped at. */
static const char *reason_at(const char *text, size_t len, size_t pos, char *buf, size_t size) {
    int depth = 0;
    const char *string = NULL;
    for (size_t i = 0; i < pos; i++) {
        char c = text[i];
        if (string) {
            if (c == '\\') i++;
            else if (c == '"') string = NULL;
        } else if (c == '"') {
            string = text + i;
        } else if (c == '[' || c == '{') {
            depth++;
        } else if (c == ']' || c == '}') {
            depth--;
        }
    }
    if (depth >= CJSON_NESTING_LIMIT) {
        snprintf(buf, size, "nesting deeper than %d", CJSON_NESTING_LIMIT);
    } else if (string) {
        const char *p = text + pos, *end = text + len;
        while (p < end && *p != '"') p += *p == '\\' ? 2 : 1;
        snprintf(buf, size, p < end ? "invalid escape in string" : "unterminated string");
    } else if (pos >= len) {
        snprintf(buf, size, "unexpected end of input");
    } else {
        unsigned char c = (unsigned char)text[pos];
        if (c >= 0x20 && c < 0x7f) snprintf(buf, size, "unexpected character '%c'", c);
        else snprintf(buf, size, "unexpected byte 0x%02x", c);
    }
    return buf;
}

const char *hone_json_fault(const char *text, size_t len, size_t pos, char *buf, size_t size) {
    return reason_at(text, len, pos > len ? len : pos, buf, size);
}

/* nil, "json: <reason> at line L column C" for the fault at pos; reason NULL: tell it from
** the text. */
static int decode_error(lua_State *L, const char *text, size_t len, size_t pos, const char *reason) {
    if (pos > len) pos = len;
    int line = 1;
    size_t line_start = 0;
    for (size_t i = 0; i < pos; i++)
        if (text[i] == '\n') {
            line++;
            line_start = i + 1;
        }
    char buf[64];
    lua_pushnil(L);
    lua_pushfstring(L, "json: %s at line %d column %d", reason ? reason : reason_at(text, len, pos, buf, sizeof buf),
                    line, (int)(pos - line_start + 1));
    return 2;
}

static int l_decode(lua_State *L) {
    size_t len;
    const char *text = luaL_checklstring(L, 1, &len);
    /* cJSON would take a NUL as whitespace or the end of the text; JSON allows it nowhere. */
    const char *nul = memchr(text, '\0', len);
    if (nul) return decode_error(L, text, len, (size_t)(nul - text), NULL);
    const char *stop = NULL;
    /* The length counts the terminator Lua keeps after every string, as cJSON expects. */
    cJSON *j = cJSON_ParseWithLengthOpts(text, len + 1, &stop, 1);
    if (!j) return decode_error(L, text, len, stop ? (size_t)(stop - text) : len, NULL);
    Cursor c = {text, text + len, 1, NULL, NULL};
    lua_pushcfunction(L, push_decoded);
    lua_pushlightuserdata(L, j);
    lua_pushlightuserdata(L, &c);
    int status = lua_pcall(L, 2, 1, 0);
    cJSON_Delete(j);
    if (status != LUA_OK && c.refused) return decode_error(L, text, len, (size_t)(c.refused - text), c.why);
    if (status != LUA_OK) return lua_error(L);
    return 1;
}

/* ---- the rest of the module -------------------------------------------------------- */

static int l_array(lua_State *L) {
    if (lua_isnoneornil(L, 1)) {
        lua_settop(L, 0);
        lua_newtable(L);
    }
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    if (lua_getmetatable(L, 1)) {
        lua_pop(L, 1);
        luaL_argcheck(L, has_array_mark(L, 1), 1, "table already has a metatable");
        return 1;
    }
    push_array_mt(L);
    lua_setmetatable(L, 1);
    return 1;
}

static int l_is_array(lua_State *L) {
    int sequence = 0, integers;
    if (lua_istable(L, 1) && !has_array_mark(L, 1)) sequence = scan_keys(L, 1, &sequence, &integers) > 0 && sequence;
    else sequence = lua_istable(L, 1);
    lua_pushboolean(L, sequence);
    return 1;
}

int hone_open_json(lua_State *L) {
    static const luaL_Reg funcs[] = {
        {"encode", l_encode},
        {"decode", l_decode},
        {"array", l_array},
        {"is_array", l_is_array},
        {NULL, NULL},
    };
    luaL_newlib(L, funcs);
    lua_pushlightuserdata(L, (void *)&null_sentinel);
    lua_setfield(L, -2, "null");
    push_array_mt(L);
    lua_pop(L, 1);
    return 1;
}
