/*
** qbert.c - Q*bert (Atari 2600) at the level of objects.
**
** A pyramid of 28 cubes in 7 rows. Q*bert hops diagonally from cube to cube; every hop
** onto a cube moves its top toward the target colour, and a round is won when all 28
** show it. Hopping off the pyramid is a fall (a life), except onto one of the two
** spinning disks beside it, which carry Q*bert back to the top and lure Coily to his
** doom. Red balls bounce down the pyramid and kill; the purple ball turns into Coily at
** the bottom, who then chases Q*bert; the green ball freezes enemies; Sam reverts
** cubes. See README.md, ## Q*bert.
**
** Cells are (r, c) with row r = 0..6 from the top and c = 0..r. The joystick is turned
** 45 degrees as in the original: UP = up-right, RIGHT = down-right, LEFT = up-left,
** DOWN = down-left.
*/
#include "game.h"

#include <string.h>

#define ROWS         7
#define N_CUBES      28
#define CUBE_W       20      /* the top face of a cube, the object reported as a cube */
#define CUBE_H       8
#define DISK_W       12
#define DISK_H       4
#define MAX_ENEMIES  4
#define HOP          16      /* frames per hop */
#define FALL         32      /* frames of falling before the life is lost */
#define RIDE         64      /* frames of a disk ride to the top */
#define DEATH_PAUSE  48
#define ROUND_PAUSE  64
#define FREEZE       128     /* frames the green ball freezes the enemies */
#define START_LIVES  4
#define MAX_STEPS    27000

enum { A_NOOP, A_FIRE, A_UP, A_RIGHT, A_LEFT, A_DOWN, N_ACTIONS };
static const char *const actions[N_ACTIONS] = { "NOOP", "FIRE", "UP", "RIGHT", "LEFT", "DOWN" };

enum { IDLE, HOPPING, FALLING, RIDING, DYING, WON };             /* player modes */
enum { NONE, RED, PURPLE, COILY, GREEN, SAM };                   /* enemy kinds */
static const char *const enemy_name[] = { "", "RedBall", "PurpleBall", "Coily", "GreenBall", "Sam" };
static const int enemy_h[] = { 0, 8, 8, 16, 8, 12 };
#define PLAYER_W 8
#define PLAYER_H 12

/* Something that hops between cells: the player or an enemy. */
typedef struct {
    int kind;                  /* enemies: NONE .. SAM */
    int r, c, tr, tc;          /* cell, and the cell it hops to */
    int t;                     /* frames into the hop; 0 = standing */
    int rest;                  /* enemies: frames to wait before the next hop */
} Hopper;

typedef struct { int x, y, seen; } Trace;

typedef struct {
    uint64_t rng;
    Hopper p;
    int mode, timer;           /* player mode, frames left in FALLING/RIDING/DYING/WON */
    int score, lives, steps, done;
    int round;                 /* 0, 1, ...: the level is round / 4 */
    int cube[N_CUBES];         /* hops received toward the target colour */
    int disk_row[2];           /* left, right; -1 = used */
    int disk_used[2];
    int spawn, freeze;
    Hopper e[MAX_ENEMIES];
    Trace prev[1 + MAX_ENEMIES];
} Qbert;

static int cube_x(int r, int c) { return 70 - 10 * r + 20 * c; }
static int cube_y(int r) { return 32 + 24 * r; }
static int valid(int r, int c) { return r >= 0 && r < ROWS && c >= 0 && c <= r; }
static int idx(int r, int c) { return r * (r + 1) / 2 + c; }
static int level(const Qbert *s) { return s->round / 4 < 2 ? s->round / 4 : 2; }
static int target(const Qbert *s) { return level(s) == 1 ? 2 : 1; }

/* Cell a hopper occupies for collisions: it switches cells half way through a hop. */
static void cell(const Hopper *h, int *r, int *c) {
    int moved = h->t >= HOP / 2;
    *r = moved ? h->tr : h->r;
    *c = moved ? h->tc : h->c;
}

static int clip(int *x, int *y, int *w, int *h) {
    int x1 = *x + *w, y1 = *y + *h;
    if (*x < 0) *x = 0;
    if (*y < 0) *y = 0;
    if (x1 > ATARI_WIDTH) x1 = ATARI_WIDTH;
    if (y1 > ATARI_HEIGHT) y1 = ATARI_HEIGHT;
    *w = x1 - *x;
    *h = y1 - *y;
    return *w > 0 && *h > 0;
}

/* A hopper of height hh standing on (or between) cubes; positions interpolate a hop. */
static void hopper_pos(const Hopper *h, int hh, int *x, int *y) {
    int x0 = cube_x(h->r, h->c) + 6, y0 = cube_y(h->r) - hh;
    int x1 = cube_x(h->tr, h->tc) + 6, y1 = cube_y(h->tr) - hh;
    *x = x0 + (x1 - x0) * h->t / HOP;
    *y = y0 + (y1 - y0) * h->t / HOP;
}

static int disk_x(int side, int row) { return (side ? cube_x(row, row + 1) : cube_x(row, -1)) + 4; }

/* Moving object i (0 = player, 1.. = enemies) as reported; 0 if not visible. */
static int rect(const Qbert *s, int i, int *x, int *y, int *w, int *h) {
    if (i > 0) {
        const Hopper *e = &s->e[i - 1];
        if (e->kind == NONE) return 0;
        hopper_pos(e, enemy_h[e->kind], x, y);
        *w = 8;
        *h = enemy_h[e->kind];
        return clip(x, y, w, h);
    }
    hopper_pos(&s->p, PLAYER_H, x, y);
    if (s->mode == FALLING) *y += 4 * (FALL - s->timer);
    if (s->mode == RIDING) {
        /* From the disk up to just above the top cube. */
        int k = RIDE - s->timer, x1 = cube_x(0, 0) + 6, y1 = cube_y(0) - PLAYER_H - 16;
        *x += (x1 - *x) * k / RIDE;
        *y += (y1 - *y) * k / RIDE;
    }
    *w = PLAYER_W;
    *h = PLAYER_H;
    return clip(x, y, w, h);
}

static void snapshot(Qbert *s) {
    for (int i = 0; i < 1 + MAX_ENEMIES; i++) {
        int x = 0, y = 0, w = 0, h = 0;
        s->prev[i].seen = rect(s, i, &x, &y, &w, &h);
        s->prev[i].x = x;
        s->prev[i].y = y;
    }
}

static void stand(Hopper *h, int r, int c) {
    h->r = h->tr = r;
    h->c = h->tc = c;
    h->t = 0;
}

static void clear_enemies(Qbert *s) {
    for (int i = 0; i < MAX_ENEMIES; i++) s->e[i].kind = NONE;
    s->spawn = atari_rng_int(&s->rng, 64, 128);
    s->freeze = 0;
}

static void new_round(Qbert *s) {
    memset(s->cube, 0, sizeof s->cube);
    for (int side = 0; side < 2; side++) {
        s->disk_row[side] = atari_rng_int(&s->rng, 2, 5);
        s->disk_used[side] = 0;
    }
    stand(&s->p, 0, 0);
    s->mode = IDLE;
    clear_enemies(s);
}

/* Enemies hop faster round by round. */
static int enemy_rest(const Qbert *s) { return s->round < 12 ? 24 - 2 * s->round : 2; }

static void spawn_enemy(Qbert *s) {
    int d = s->round < 8 ? s->round : 8, slot = -1, chaser = 0;
    s->spawn = atari_rng_int(&s->rng, 96 - 6 * d, 192 - 12 * d);
    for (int i = 0; i < MAX_ENEMIES; i++) {
        if (s->e[i].kind == PURPLE || s->e[i].kind == COILY) chaser = 1;
        if (s->e[i].kind == NONE && slot < 0) slot = i;
    }
    if (slot < 0) return;
    /* 30% purple ball (one chaser at a time), 10% Sam (from round 2), 8% green, else red. */
    int roll = atari_rng_int(&s->rng, 1, 100), kind = RED;
    if (roll <= 30) kind = chaser ? RED : PURPLE;
    else if (roll <= 40) kind = s->round > 0 ? SAM : RED;
    else if (roll <= 48) kind = GREEN;
    Hopper *e = &s->e[slot];
    s->prev[1 + slot].seen = 0;           /* a new enemy: no dx/dy from the slot's old one */
    e->kind = kind;
    stand(e, 1, atari_rng_int(&s->rng, 0, 1));
    e->rest = enemy_rest(s);
}

/* Coily's hop: the neighbour cell closest to Q*bert (screen distance, ties in order). */
static void chase(const Qbert *s, Hopper *e) {
    static const int dr[4] = { -1, 1, -1, 1 }, dc[4] = { 0, 1, -1, 0 };
    int pr, pc, best = 1 << 30;
    cell(&s->p, &pr, &pc);
    for (int k = 0; k < 4; k++) {
        int r = e->r + dr[k], c = e->c + dc[k];
        if (!valid(r, c)) continue;
        int ddx = (2 * c - r) - (2 * pc - pr), ddy = r - pr;
        int d = (ddx < 0 ? -ddx : ddx) + 2 * (ddy < 0 ? -ddy : ddy);
        if (d < best) {
            best = d;
            e->tr = r;
            e->tc = c;
        }
    }
}

static void land_enemy(Qbert *s, Hopper *e) {
    stand(e, e->tr, e->tc);
    if (!valid(e->r, e->c)) {
        e->kind = NONE;           /* bounced off the bottom */
        return;
    }
    if (e->kind == SAM) s->cube[idx(e->r, e->c)] = 0;
    if (e->kind == PURPLE && e->r == ROWS - 1) {
        e->kind = COILY;                       /* hatches: a new object, not a moved ball */
        s->prev[1 + (e - s->e)].seen = 0;
    }
    e->rest = enemy_rest(s);
}

static void move_enemy(Qbert *s, Hopper *e) {
    if (e->t > 0) {
        if (++e->t >= HOP) land_enemy(s, e);
        return;
    }
    if (--e->rest > 0) return;
    if (e->kind == COILY) chase(s, e);
    else {
        e->tr = e->r + 1;
        e->tc = e->c + atari_rng_int(&s->rng, 0, 1);
    }
    e->t = 1;
}

static void lose_life(Qbert *s) {
    s->lives--;
    s->mode = DYING;
    s->timer = DEATH_PAUSE;
    clear_enemies(s);
    if (s->lives <= 0) s->done = 1;
}

/* Contact between Q*bert and the enemies; returns points. */
static int contact(Qbert *s) {
    int pr, pc, reward = 0;
    if (s->mode != IDLE && s->mode != HOPPING) return 0;
    cell(&s->p, &pr, &pc);
    if (!valid(pr, pc)) return 0;
    for (int i = 0; i < MAX_ENEMIES; i++) {
        Hopper *e = &s->e[i];
        int er, ec;
        if (e->kind == NONE) continue;
        cell(e, &er, &ec);
        int same = er == pr && ec == pc;
        /* Two hoppers swapping cells meet half way. */
        int swap = s->p.t > 0 && e->t > 0 && s->p.r == e->tr && s->p.c == e->tc && s->p.tr == e->r &&
                   s->p.tc == e->c;
        if (!same && !swap) continue;
        if (e->kind == GREEN) {
            reward += 100;
            s->freeze = FREEZE;
            e->kind = NONE;
        } else if (e->kind == SAM) {
            reward += 300;
            e->kind = NONE;
        } else {
            stand(&s->p, pr, pc);     /* Q*bert is caught where he stands */
            lose_life(s);
            return reward;
        }
    }
    return reward;
}

static int round_bonus(const Qbert *s) {
    int b = 1000 + 250 * s->round;
    return b < 5000 ? b : 5000;
}

/* Q*bert lands on a valid cube: colour it; returns points. */
static int land_player(Qbert *s) {
    int *k = &s->cube[idx(s->p.r, s->p.c)], tgt = target(s), reward = 0;
    if (level(s) == 2 && *k == tgt) *k = 0;   /* later rounds: hopping a done cube undoes it */
    else if (*k < tgt) {
        ++*k;
        reward = *k == tgt ? 25 : 15;
    }
    for (int i = 0; i < N_CUBES; i++)
        if (s->cube[i] != tgt) return reward;
    reward += round_bonus(s) + 50 * (!s->disk_used[0] + !s->disk_used[1]);
    s->mode = WON;
    s->timer = ROUND_PAUSE;
    clear_enemies(s);
    return reward;
}

/* A hop off the pyramid ends on a disk if one waits beside that row. */
static int board_disk(Qbert *s) {
    int side = s->p.c < 0 ? 0 : 1, reward = 0;
    if (s->p.r < 0 || s->p.r >= ROWS || s->disk_used[side] || s->disk_row[side] != s->p.r) return 0;
    if (s->p.c != -1 && s->p.c != s->p.r + 1) return 0;
    s->disk_used[side] = 1;
    s->mode = RIDING;
    s->timer = RIDE;
    for (int i = 0; i < MAX_ENEMIES; i++) {
        if (s->e[i].kind != COILY) continue;
        s->e[i].kind = NONE;      /* Coily leaps after Q*bert and falls */
        reward += 500;
    }
    return 1 + reward;
}

static int end_hop(Qbert *s) {
    stand(&s->p, s->p.tr, s->p.tc);
    s->mode = IDLE;
    if (valid(s->p.r, s->p.c)) return land_player(s);
    int d = board_disk(s);
    if (d) return d - 1;
    s->mode = FALLING;
    s->timer = FALL;
    return 0;
}

static int start_hop(Qbert *s, int action) {
    static const int dr[N_ACTIONS] = { 0, 0, -1, 1, -1, 1 }, dc[N_ACTIONS] = { 0, 0, 0, 1, -1, 0 };
    if (action == A_NOOP || action == A_FIRE) return 0;
    s->p.tr = s->p.r + dr[action];
    s->p.tc = s->p.c + dc[action];
    s->p.t = 1;
    s->mode = HOPPING;
    return 0;
}

static int move_player(Qbert *s, int action) {
    switch (s->mode) {
    case IDLE:
        return start_hop(s, action);
    case HOPPING:
        return ++s->p.t < HOP ? 0 : end_hop(s);
    case FALLING:
        if (--s->timer > 0) return 0;
        stand(&s->p, 0, 0);
        lose_life(s);
        return 0;
    case RIDING:
        if (--s->timer > 0) return 0;
        stand(&s->p, 0, 0);
        s->mode = IDLE;
        return land_player(s);
    case DYING:
        if (--s->timer <= 0) s->mode = IDLE;
        return 0;
    case WON:
        if (--s->timer > 0) return 0;
        s->round++;
        new_round(s);
        return 0;
    }
    return 0;
}

static int frame(Qbert *s, int action) {
    int reward = move_player(s, action);
    if (s->mode != IDLE && s->mode != HOPPING && s->mode != RIDING) return reward;
    if (s->freeze > 0) s->freeze--;
    else
        for (int i = 0; i < MAX_ENEMIES; i++)
            if (s->e[i].kind != NONE) move_enemy(s, &s->e[i]);
    if (--s->spawn <= 0) spawn_enemy(s);
    return reward + contact(s);
}

static void reset(void *state, uint64_t seed) {
    Qbert *s = state;
    memset(s, 0, sizeof *s);
    s->rng = seed;
    s->lives = START_LIVES;
    new_round(s);
    snapshot(s);
}

static AtariStep step(void *state, int action) {
    Qbert *s = state;
    AtariStep r = { 0, s->done };
    if (s->done) return r;
    if (action < 0 || action >= N_ACTIONS) action = A_NOOP;
    snapshot(s);
    for (int f = 0; f < ATARI_FRAMESKIP && !s->done; f++) r.reward += frame(s, action);
    s->score += r.reward;
    if (++s->steps >= MAX_STEPS) s->done = 1;
    r.done = s->done;
    return r;
}

static int put(AtariObject *out, int n, int max, const char *cat, int x, int y, int w, int h) {
    if (n >= max || !clip(&x, &y, &w, &h)) return n;
    out[n] = (AtariObject){ cat, x, y, w, h, 0, 0 };
    return n + 1;
}

static int objects(const void *state, AtariObject *out, int max) {
    const Qbert *s = state;
    int n = 0, tgt = target(s);
    for (int i = 0; i < 1 + MAX_ENEMIES && n < max; i++) {
        AtariObject *o = &out[n];
        if (!rect(s, i, &o->x, &o->y, &o->w, &o->h)) continue;
        o->category = i == 0 ? "Player" : enemy_name[s->e[i - 1].kind];
        o->dx = s->prev[i].seen ? o->x - s->prev[i].x : 0;
        o->dy = s->prev[i].seen ? o->y - s->prev[i].y : 0;
        n++;
    }
    for (int side = 0; side < 2; side++) {
        int row = s->disk_row[side];
        if (!s->disk_used[side]) n = put(out, n, max, "Disk", disk_x(side, row), cube_y(row), DISK_W, DISK_H);
    }
    for (int r = 0; r < ROWS; r++)
        for (int c = 0; c <= r; c++) {
            const char *cat = s->cube[idx(r, c)] == tgt ? "ColoredCube" : "Cube";
            n = put(out, n, max, cat, cube_x(r, c), cube_y(r), CUBE_W, CUBE_H);
        }
    return n;
}

static int score(const void *state) { return ((const Qbert *)state)->score; }
static int lives(const void *state) { return ((const Qbert *)state)->lives; }

const AtariGame atari_qbert = {
    "qbert", actions, N_ACTIONS, sizeof(Qbert), MAX_STEPS,
    reset, step, objects, score, lives,
};
