/*
** seaquest.c - Seaquest (Atari 2600) at the level of objects.
**
** The player's submarine patrols the sea below the surface. Four lanes carry groups of
** one to three sharks or enemy submarines swimming across; enemy submarines fire
** torpedoes along their lane. Divers swim in the lanes too and are picked up by touching
** them (at most six aboard). Oxygen runs down while submerged; surfacing refills it, but
** costs a diver (a life with none aboard), and surfacing with six divers banks a bonus
** and starts a harder wave (faster, larger groups, busier submarines; from the third
** wave on a submarine patrols the surface). See README.md, ## Seaquest.
**
** Horizontal positions of lane objects are kept in quarter pixels so speeds can grow in
** small steps; everything reported is in whole pixels.
*/
#include "game.h"

#include <string.h>

#define LANES        4
#define GROUP        3       /* enemies per lane at most */
#define GROUP_GAP    24      /* px between members of a group */
#define LANE_Y0      69
#define LANE_DY      24
#define SURFACE_Y    46      /* player top at the surface */
#define PLAYER_YMAX  141
#define PLAYER_XMIN  21
#define PLAYER_XMAX  134
#define PLAYER_W     16
#define PLAYER_H     11
#define ENEMY_W      8
#define SHARK_H      7
#define SUB_H        11
#define DIVER_W      8
#define DIVER_H      11
#define MISSILE_W    8
#define MISSILE_H    2
#define TORPEDO_V    6       /* player's torpedo, px per frame */
#define PATROL_LEVEL 2       /* waves completed before the surface patrol appears */
#define DIVE_DEPTH   16      /* px below the surface that count as a dive */
#define OXY_MAX      64
#define OXY_FRAMES   32      /* frames per unit of oxygen under water */
#define MAX_DIVERS   6
#define DEATH_PAUSE  64
#define START_LIVES  4
#define MAX_LIVES    7       /* the sub plus six in reserve */
#define BONUS_LIFE   10000
#define MAX_STEPS    27000

enum {
    A_NOOP, A_FIRE, A_UP, A_RIGHT, A_LEFT, A_DOWN, A_UPRIGHT, A_UPLEFT, A_DOWNRIGHT, A_DOWNLEFT,
    A_UPFIRE, A_RIGHTFIRE, A_LEFTFIRE, A_DOWNFIRE, A_UPRIGHTFIRE, A_UPLEFTFIRE, A_DOWNRIGHTFIRE,
    A_DOWNLEFTFIRE, N_ACTIONS
};

static const char *const actions[N_ACTIONS] = {
    "NOOP", "FIRE", "UP", "RIGHT", "LEFT", "DOWN", "UPRIGHT", "UPLEFT", "DOWNRIGHT", "DOWNLEFT",
    "UPFIRE", "RIGHTFIRE", "LEFTFIRE", "DOWNFIRE", "UPRIGHTFIRE", "UPLEFTFIRE", "DOWNRIGHTFIRE",
    "DOWNLEFTFIRE",
};

/* Joystick of each action: vertical (-1 up, +1 down), horizontal, fire. */
static const signed char joy_y[N_ACTIONS] = { 0, 0, -1, 0, 0, 1, -1, -1, 1, 1, -1, 0, 0, 1, -1, -1, 1, 1 };
static const signed char joy_x[N_ACTIONS] = { 0, 0, 0, 1, -1, 0, 1, -1, 1, -1, 0, 1, -1, 0, 1, -1, 1, -1 };
static const signed char joy_f[N_ACTIONS] = { 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1 };

enum { EMPTY, SHARK, SUB };
enum { PLAYING, REFILL, DEAD };

typedef struct { int on, x, y, dir; } Missile;   /* whole pixels */

typedef struct {
    int kind;          /* EMPTY, SHARK or SUB */
    int dir;           /* +1 right, -1 left */
    int xq;            /* leader's left edge, quarter px; member k is k * GROUP_GAP behind */
    int vq;            /* quarter px per frame */
    int n, alive;      /* group size, bit mask of members still alive */
    int timer;         /* frames until a new group (when EMPTY) or the next torpedo (SUB) */
    Missile torpedo;
    int diver_on, diver_xq, diver_dir, diver_timer;
} Lane;

typedef struct { int x, y, seen; } Trace;

/* Moving objects, for dx/dy: player, player torpedo, surface patrol, then per lane the
** members, the diver and the torpedo. */
#define SLOT_LANE(i) (3 + (i) * (GROUP + 2))
#define N_SLOTS      (3 + LANES * (GROUP + 2))

typedef struct {
    uint64_t rng;
    int px, py, face;  /* player's top-left; face +1 right, -1 left */
    int mode, timer;   /* PLAYING, REFILL (at the surface) or DEAD (frozen) */
    int submerged;     /* has dived since the last surfacing */
    int oxygen, oxy_clock, divers, level;
    int score, lives, steps, done, next_bonus;
    Missile torpedo;
    int patrol_on, patrol_x, patrol_dir;
    Lane lanes[LANES];
    Trace prev[N_SLOTS];
} Seaquest;

static int lane_y(int i) { return LANE_Y0 + i * LANE_DY; }

/* Floor division by 4 for quarter pixels that may be negative. */
static int px_of(int q) { return q >= 0 ? q / 4 : -((-q + 3) / 4); }

static int member_x(const Lane *l, int k) { return px_of(l->xq) - l->dir * k * GROUP_GAP; }

static int overlap(int ax, int ay, int aw, int ah, int bx, int by, int bw, int bh) {
    return ax < bx + bw && bx < ax + aw && ay < by + bh && by < ay + ah;
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

/* Slot i as reported (category, clipped rectangle); 0 if not visible. */
static int rect(const Seaquest *s, int i, const char **cat, int *x, int *y, int *w, int *h) {
    const Missile *m = NULL;
    if (i == 0) {
        if (s->mode == DEAD) return 0;
        *cat = "Player"; *x = s->px; *y = s->py; *w = PLAYER_W; *h = PLAYER_H;
        return clip(x, y, w, h);
    }
    if (i == 2) {
        if (!s->patrol_on) return 0;
        *cat = "SurfaceSubmarine"; *x = s->patrol_x; *y = SURFACE_Y; *w = PLAYER_W; *h = PLAYER_H;
        return clip(x, y, w, h);
    }
    if (i == 1) m = &s->torpedo;
    else {
        int li = (i - SLOT_LANE(0)) / (GROUP + 2), k = (i - SLOT_LANE(0)) % (GROUP + 2);
        const Lane *l = &s->lanes[li];
        if (k < GROUP) {
            if (l->kind == EMPTY || k >= l->n || !(l->alive >> k & 1)) return 0;
            *cat = l->kind == SHARK ? "Shark" : "Submarine";
            *x = member_x(l, k);
            *w = ENEMY_W;
            *h = l->kind == SHARK ? SHARK_H : SUB_H;
            *y = lane_y(li) + (SUB_H - *h) / 2;
            return clip(x, y, w, h);
        }
        if (k == GROUP) {
            if (!l->diver_on) return 0;
            *cat = "Diver"; *x = px_of(l->diver_xq); *y = lane_y(li); *w = DIVER_W; *h = DIVER_H;
            return clip(x, y, w, h);
        }
        m = &l->torpedo;
    }
    if (!m->on) return 0;
    *cat = i == 1 ? "PlayerMissile" : "EnemyMissile";
    *x = m->x; *y = m->y; *w = MISSILE_W; *h = MISSILE_H;
    return clip(x, y, w, h);
}

static void snapshot(Seaquest *s) {
    for (int i = 0; i < N_SLOTS; i++) {
        const char *cat;
        int x = 0, y = 0, w = 0, h = 0;
        s->prev[i].seen = rect(s, i, &cat, &x, &y, &w, &h);
        s->prev[i].x = x;
        s->prev[i].y = y;
    }
}

/* Everything underwater starts over; the patrol sets out from the far end. */
static void clear_lanes(Seaquest *s) {
    s->patrol_on = s->level >= PATROL_LEVEL;
    s->patrol_dir = s->px < 76 ? -1 : 1;
    s->patrol_x = s->px < 76 ? ATARI_WIDTH - PLAYER_W : 0;
    for (int i = 0; i < LANES; i++) {
        Lane *l = &s->lanes[i];
        memset(l, 0, sizeof *l);
        l->timer = atari_rng_int(&s->rng, 30, 150);
        l->diver_timer = atari_rng_int(&s->rng, 120, 360);
    }
    s->torpedo.on = 0;
}

static void spawn_group(Seaquest *s, Lane *l) {
    int lv = s->level < 6 ? s->level : 6;
    l->kind = atari_rng_int(&s->rng, 1, 100) <= 60 ? SHARK : SUB;
    l->dir = atari_rng_int(&s->rng, 0, 1) ? 1 : -1;
    l->n = atari_rng_int(&s->rng, 1, 1 + lv < GROUP ? 1 + lv : GROUP);
    l->alive = (1 << l->n) - 1;
    l->vq = 4 + 2 * lv;
    l->xq = 4 * (l->dir > 0 ? -ENEMY_W : ATARI_WIDTH);
    l->timer = atari_rng_int(&s->rng, 20, 80);
}

/* Submarines fire more often wave by wave. */
static int reload(Seaquest *s) {
    int lv = s->level < 6 ? s->level : 6;
    return atari_rng_int(&s->rng, 40 - 4 * lv, 120 - 12 * lv);
}

static void spawn_diver(Seaquest *s, Lane *l) {
    l->diver_on = 1;
    l->diver_dir = atari_rng_int(&s->rng, 0, 1) ? 1 : -1;
    l->diver_xq = 4 * (l->diver_dir > 0 ? -DIVER_W : ATARI_WIDTH);
}

static void lose_life(Seaquest *s) {
    s->lives--;
    s->mode = DEAD;
    s->timer = DEATH_PAUSE;
    if (s->divers > 0) s->divers--;   /* a lost sub also costs a diver */
    clear_lanes(s);
    if (s->lives <= 0) s->done = 1;
}

static int points(Seaquest *s, int p) {
    if (s->score + p >= s->next_bonus) {
        s->next_bonus += BONUS_LIFE;
        if (s->lives < MAX_LIVES) s->lives++;
    }
    return p;
}

/* The group and its diver move; a submarine may fire. A new object in a slot forgets
** the slot's trace, so its first dx/dy is 0 rather than a jump from its predecessor. */
static void move_lane(Seaquest *s, int li) {
    Lane *l = &s->lanes[li];
    if (l->diver_on) {
        l->diver_xq += l->diver_dir * 2;
        int x = px_of(l->diver_xq);
        if (x < -DIVER_W || x > ATARI_WIDTH) {
            l->diver_on = 0;
            l->diver_timer = atari_rng_int(&s->rng, 120, 360);
        }
    } else if (--l->diver_timer <= 0) {
        spawn_diver(s, l);
        s->prev[SLOT_LANE(li) + GROUP].seen = 0;
    }

    Missile *m = &l->torpedo;
    if (m->on) {
        m->x += m->dir * (px_of(l->vq) + 2);
        if (m->x < -MISSILE_W || m->x > ATARI_WIDTH) m->on = 0;
    }
    if (l->kind == EMPTY) {
        if (--l->timer <= 0) {
            spawn_group(s, l);
            for (int k = 0; k < GROUP; k++) s->prev[SLOT_LANE(li) + k].seen = 0;
        }
        return;
    }
    l->xq += l->dir * l->vq;
    int last = member_x(l, l->n - 1);
    if (!l->alive || (l->dir > 0 ? last > ATARI_WIDTH : last < -ENEMY_W)) {
        l->kind = EMPTY;
        l->timer = atari_rng_int(&s->rng, 30, 150);
        return;
    }
    if (l->kind != SUB || m->on || --l->timer > 0) return;
    l->timer = reload(s);
    for (int k = 0; k < l->n; k++) {
        int x = member_x(l, k);
        if (!(l->alive >> k & 1) || x < 0 || x > ATARI_WIDTH - ENEMY_W) continue;
        *m = (Missile){ 1, x + l->dir * ENEMY_W, lane_y(li) + 5, l->dir };
        s->prev[SLOT_LANE(li) + GROUP + 1].seen = 0;
        return;
    }
}

/* The player's torpedo hits the first enemy it touches. */
static int torpedo_hits(Seaquest *s) {
    Missile *m = &s->torpedo;
    for (int i = 0; i < LANES && m->on; i++) {
        Lane *l = &s->lanes[i];
        if (l->kind == EMPTY) continue;
        for (int k = 0; k < l->n; k++) {
            if (!(l->alive >> k & 1)) continue;
            if (!overlap(m->x, m->y, MISSILE_W, MISSILE_H, member_x(l, k), lane_y(i), ENEMY_W, SUB_H)) continue;
            l->alive &= ~(1 << k);
            m->on = 0;
            int lv = s->level < 7 ? s->level : 7;
            return points(s, 20 + 10 * lv);
        }
    }
    return 0;
}

/* Contact with enemies, torpedoes and divers; returns 1 when the player dies. */
static int contacts(Seaquest *s) {
    for (int i = 0; i < LANES; i++) {
        Lane *l = &s->lanes[i];
        int y = lane_y(i);
        for (int k = 0; k < l->n && l->kind != EMPTY; k++) {
            int h = l->kind == SHARK ? SHARK_H : SUB_H;
            if ((l->alive >> k & 1) &&
                overlap(s->px, s->py, PLAYER_W, PLAYER_H, member_x(l, k), y + (SUB_H - h) / 2, ENEMY_W, h))
                return 1;
        }
        if (l->torpedo.on &&
            overlap(s->px, s->py, PLAYER_W, PLAYER_H, l->torpedo.x, l->torpedo.y, MISSILE_W, MISSILE_H))
            return 1;
        if (l->diver_on && s->divers < MAX_DIVERS &&
            overlap(s->px, s->py, PLAYER_W, PLAYER_H, px_of(l->diver_xq), y, DIVER_W, DIVER_H)) {
            l->diver_on = 0;
            l->diver_timer = atari_rng_int(&s->rng, 120, 360);
            s->divers++;
        }
    }
    return 0;
}

/* Reaching the surface: a diver pays for the air, six divers bank a bonus. */
static int surface(Seaquest *s) {
    int reward = 0;
    s->submerged = 0;
    if (s->divers == 0) {
        lose_life(s);
        return 0;
    }
    if (s->divers == MAX_DIVERS) {
        int per = 50 * (s->level + 1) < 1000 ? 50 * (s->level + 1) : 1000;
        reward = points(s, MAX_DIVERS * per + 20 * s->oxygen);
        s->divers = 0;
        s->level++;
    } else s->divers--;
    s->mode = REFILL;
    clear_lanes(s);
    return reward;
}

static void respawn(Seaquest *s) {
    s->mode = PLAYING;
    s->px = 76;
    s->py = SURFACE_Y;
    s->face = 1;
    s->oxygen = OXY_MAX;
    s->oxy_clock = 0;
    s->submerged = 0;
}

static int frame(Seaquest *s, int action) {
    int reward = 0;
    if (s->mode == DEAD) {
        if (--s->timer <= 0) respawn(s);
        return 0;
    }
    if (s->mode == REFILL) {
        if (s->oxygen < OXY_MAX) {
            s->oxygen++;
            return 0;
        }
        s->mode = PLAYING;
    }
    s->px += joy_x[action];
    s->py += joy_y[action];
    if (joy_x[action]) s->face = joy_x[action];
    if (s->px < PLAYER_XMIN) s->px = PLAYER_XMIN;
    if (s->px > PLAYER_XMAX) s->px = PLAYER_XMAX;
    if (s->py < SURFACE_Y) s->py = SURFACE_Y;
    if (s->py > PLAYER_YMAX) s->py = PLAYER_YMAX;
    if (joy_f[action] && !s->torpedo.on) {
        s->torpedo = (Missile){ 1, s->face > 0 ? s->px + PLAYER_W : s->px - MISSILE_W, s->py + 5, s->face };
        s->prev[1].seen = 0;
    }
    if (s->torpedo.on) {
        s->torpedo.x += s->torpedo.dir * TORPEDO_V;
        if (s->torpedo.x < -MISSILE_W || s->torpedo.x > ATARI_WIDTH) s->torpedo.on = 0;
    }

    if (s->py >= SURFACE_Y + DIVE_DEPTH) s->submerged = 1;
    if (s->py == SURFACE_Y && s->submerged) return surface(s);
    if (s->py > SURFACE_Y && ++s->oxy_clock >= OXY_FRAMES) {
        s->oxy_clock = 0;
        if (--s->oxygen <= 0) {
            lose_life(s);
            return 0;
        }
    }

    for (int i = 0; i < LANES; i++) move_lane(s, i);
    if (s->patrol_on) {
        s->patrol_x += s->patrol_dir;
        if (s->patrol_x <= 0 || s->patrol_x >= ATARI_WIDTH - PLAYER_W) s->patrol_dir = -s->patrol_dir;
        if (overlap(s->px, s->py, PLAYER_W, PLAYER_H, s->patrol_x, SURFACE_Y, PLAYER_W, PLAYER_H)) {
            lose_life(s);
            return reward;
        }
    }
    reward += torpedo_hits(s);
    if (contacts(s)) lose_life(s);
    return reward;
}

static void reset(void *state, uint64_t seed) {
    Seaquest *s = state;
    memset(s, 0, sizeof *s);
    s->rng = seed;
    s->lives = START_LIVES;
    s->next_bonus = BONUS_LIFE;
    respawn(s);
    clear_lanes(s);
    snapshot(s);
}

static AtariStep step(void *state, int action) {
    Seaquest *s = state;
    AtariStep r = { 0, s->done };
    if (s->done) return r;
    if (action < 0 || action >= N_ACTIONS) action = A_NOOP;
    snapshot(s);
    for (int f = 0; f < ATARI_FRAMESKIP && !s->done; f++) {
        int p = frame(s, action);
        r.reward += p;
        s->score += p;
    }
    if (++s->steps >= MAX_STEPS) s->done = 1;
    r.done = s->done;
    return r;
}

static int objects(const void *state, AtariObject *out, int max) {
    const Seaquest *s = state;
    int n = 0;
    for (int i = 0; i < N_SLOTS && n < max; i++) {
        AtariObject *o = &out[n];
        if (!rect(s, i, &o->category, &o->x, &o->y, &o->w, &o->h)) continue;
        o->dx = s->prev[i].seen ? o->x - s->prev[i].x : 0;
        o->dy = s->prev[i].seen ? o->y - s->prev[i].y : 0;
        n++;
    }
    if (s->oxygen > 0 && n < max) out[n++] = (AtariObject){ "OxygenBar", 49, 170, s->oxygen, 5, 0, 0 };
    for (int k = 0; k < s->divers && n < max; k++)
        out[n++] = (AtariObject){ "CollectedDiver", 58 + 9 * k, 178, 8, 9, 0, 0 };
    return n;
}

static int score(const void *state) { return ((const Seaquest *)state)->score; }
static int lives(const void *state) { return ((const Seaquest *)state)->lives; }

const AtariGame atari_seaquest = {
    "seaquest", actions, N_ACTIONS, sizeof(Seaquest), MAX_STEPS,
    reset, step, objects, score, lives,
};
