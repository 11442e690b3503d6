/*
** space_invaders.c - Space Invaders (Atari 2600, game 1, ALE's SpaceInvaders) at the level
** of objects.
**
** Six rows of six aliens march sideways, one pixel per move, and drop when the formation
** touches a side; the fewer are left, the faster they move. The player's cannon at the
** bottom fires one laser at a time; the aliens drop bombs from the lowest alien of a
** column, often the one above the cannon. Three shields between them crumble where shots
** hit. An alien is worth 5 (bottom row) to 30 (top row) points, the satellite that
** sometimes crosses the top 200. A bomb on the cannon costs one of 3 lives; aliens that
** reach the cannon's row end the game. A cleared wave brings a new one.
*/
#include "game.h"

#include <string.h>

#define ROWS          6
#define COLS          6
#define ALIEN_W       8
#define ALIEN_H       10
#define PITCH_X       16          /* column spacing */
#define PITCH_Y       18          /* row spacing */
#define FIELD_LEFT    22          /* the formation turns at these columns */
#define FIELD_RIGHT   138
#define START_X       36
#define START_Y       31
#define DROP          6
#define PLAYER_Y      185
#define PLAYER_W      7
#define PLAYER_H      10
#define PLAYER_MIN_X  34
#define PLAYER_MAX_X  117
#define DEAD_FRAMES   64
#define SHOT_W        1
#define SHOT_H        10
#define LASER_SPEED   4           /* px per frame, up */
#define BOMB_SPEED    2           /* px per frame, down */
#define MAX_BOMBS     2
#define BOMB_CHANCE   30          /* a free bomb slot fires on 1 frame in this many */
#define SHOT_TOP      20          /* a laser above this row is gone */
#define SHOT_BOTTOM   196         /* a bomb below this row is gone */
#define SHIELDS       3
#define SHIELD_Y      157
#define SHIELD_W      8
#define SHIELD_H      18
#define CELL_W        2           /* shields are 4 x 6 cells of 2 x 3 px */
#define CELL_H        3
#define SHIELD_CELLS  ((SHIELD_W / CELL_W) * (SHIELD_H / CELL_H))
#define SAT_Y         12
#define SAT_W         7
#define SAT_H         8
#define SAT_POINTS    200
#define LIVES         3

enum { NOOP, FIRE, RIGHT, LEFT, RIGHTFIRE, LEFTFIRE };
static const char *const actions[] = {"NOOP", "FIRE", "RIGHT", "LEFT", "RIGHTFIRE", "LEFTFIRE"};
static const int shield_x[SHIELDS] = {42, 74, 106};

/* A laser, bomb or satellite: gen changes each time the slot is reused, so a new shot
** is never taken for the old one moved. */
typedef struct {
    int live, x, y, gen;
} Shot;

typedef struct {
    uint64_t rng;
    uint8_t alive[ROWS];            /* bit c: the alien in column c lives */
    int aliens, fx, fy, dir;        /* aliens left; formation's top-left; +1 right, -1 left */
    int move_timer, wave;
    int player_x, dead;             /* dead: frames until the cannon is back, 0 if alive */
    Shot laser, bombs[MAX_BOMBS], sat;
    int sat_dir, sat_timer;
    uint32_t shields[SHIELDS];      /* bit i: cell i stands (row-major, 4 per row) */
    int lives, points, done;
    /* the previous step, for dx and dy */
    int prev_fx, prev_fy, prev_wave, prev_player_x, prev_dead;
    Shot prev_laser, prev_bombs[MAX_BOMBS], prev_sat;
} Invaders;

static int clamp(int v, int lo, int hi) {
    return v < lo ? lo : v > hi ? hi : v;
}

static void new_wave(Invaders *s) {
    for (int r = 0; r < ROWS; r++) s->alive[r] = (1u << COLS) - 1;
    s->aliens = ROWS * COLS;
    s->fx = START_X;
    s->fy = START_Y;
    s->dir = 1;
    s->move_timer = 0;
    s->wave++;
}

static void reset(void *state, uint64_t seed) {
    Invaders *s = state;
    memset(s, 0, sizeof *s);
    s->rng = seed;
    new_wave(s);
    for (int i = 0; i < SHIELDS; i++) s->shields[i] = (1u << SHIELD_CELLS) - 1;
    s->player_x = PLAYER_MIN_X;
    s->lives = LIVES;
    s->sat_timer = atari_rng_int(&s->rng, 600, 1200);
    s->prev_fx = s->fx;
    s->prev_fy = s->fy;
    s->prev_wave = s->wave;
    s->prev_player_x = s->player_x;
}

/* Frames between moves: 9 with a full formation, 1 for the last alien. */
static int move_period(const Invaders *s) {
    return (s->aliens + 3) / 4;
}

static int column_span(const Invaders *s, int *cmin, int *cmax) {
    uint8_t any = 0;
    for (int r = 0; r < ROWS; r++) any |= s->alive[r];
    if (!any) return 0;
    *cmin = 0;
    while (!(any & (1u << *cmin))) (*cmin)++;
    *cmax = COLS - 1;
    while (!(any & (1u << *cmax))) (*cmax)--;
    return 1;
}

static int lowest_row(const Invaders *s) {
    for (int r = ROWS - 1; r >= 0; r--)
        if (s->alive[r]) return r;
    return -1;
}

/* Marches the formation; returns 1 if it reached the cannon's row. */
static int move_aliens(Invaders *s) {
    if (++s->move_timer < move_period(s)) return 0;
    s->move_timer = 0;
    int cmin, cmax;
    if (!column_span(s, &cmin, &cmax)) return 0;
    int left = s->fx + cmin * PITCH_X + s->dir, right = s->fx + cmax * PITCH_X + ALIEN_W + s->dir;
    if (left < FIELD_LEFT || right > FIELD_RIGHT) {
        s->dir = -s->dir;
        s->fy += DROP;
    } else {
        s->fx += s->dir;
    }
    return s->fy + lowest_row(s) * PITCH_Y + ALIEN_H >= PLAYER_Y;
}

/* The shield cell holding pixel (x, y): its shield and bit, or -1. */
static int shield_cell(int x, int y, int *bit) {
    if (y < SHIELD_Y || y >= SHIELD_Y + SHIELD_H) return -1;
    for (int i = 0; i < SHIELDS; i++) {
        if (x < shield_x[i] || x >= shield_x[i] + SHIELD_W) continue;
        *bit = (y - SHIELD_Y) / CELL_H * (SHIELD_W / CELL_W) + (x - shield_x[i]) / CELL_W;
        return i;
    }
    return -1;
}

/* Erodes the shield cell at (x, y) if it stands; returns 1 if it did (the shot is spent). */
static int erode(Invaders *s, int x, int y) {
    int bit, i = shield_cell(x, y, &bit);
    if (i < 0 || !(s->shields[i] & (1u << bit))) return 0;
    s->shields[i] &= ~(1u << bit);
    return 1;
}

/* Kills the alien holding pixel (x, y); returns its points, or 0. */
static int shoot_alien(Invaders *s, int x, int y) {
    int ox = x - s->fx, oy = y - s->fy;
    if (ox < 0 || oy < 0 || ox % PITCH_X >= ALIEN_W || oy % PITCH_Y >= ALIEN_H) return 0;
    int c = ox / PITCH_X, r = oy / PITCH_Y;
    if (c >= COLS || r >= ROWS || !(s->alive[r] & (1u << c))) return 0;
    s->alive[r] &= (uint8_t)~(1u << c);
    s->aliens--;
    return (ROWS - r) * 5;
}

static int move_laser(Invaders *s) {
    Shot *l = &s->laser;
    for (int i = 0; i < LASER_SPEED && l->live; i++) {
        l->y--;
        if (l->y < SHOT_TOP) {
            l->live = 0;
        } else if (erode(s, l->x, l->y)) {
            l->live = 0;
        } else if (s->sat.live && l->x >= s->sat.x && l->x < s->sat.x + SAT_W && l->y < SAT_Y + SAT_H &&
                   l->y >= SAT_Y) {
            l->live = s->sat.live = 0;
            return SAT_POINTS;
        } else {
            int p = shoot_alien(s, l->x, l->y);
            if (p) {
                l->live = 0;
                return p;
            }
        }
    }
    return 0;
}

static void drop_bomb(Invaders *s, Shot *b) {
    int c = -1;
    int pc = (s->player_x + PLAYER_W / 2 - s->fx) / PITCH_X;
    if (!s->dead && atari_rng_int(&s->rng, 0, 2) == 0 && pc >= 0 && pc < COLS) c = pc;
    if (c >= 0) {
        int r = ROWS - 1;
        while (r >= 0 && !(s->alive[r] & (1u << c))) r--;
        if (r < 0) c = -1;
    }
    if (c < 0) c = atari_rng_int(&s->rng, 0, COLS - 1);
    for (int k = 0; k < COLS; k++, c = (c + 1) % COLS)
        for (int r = ROWS - 1; r >= 0; r--) {
            if (!(s->alive[r] & (1u << c))) continue;
            b->live = 1;
            b->gen++;
            b->x = s->fx + c * PITCH_X + ALIEN_W / 2;
            b->y = s->fy + r * PITCH_Y + ALIEN_H;
            return;
        }
}

/* Moves the bombs; returns 1 if one hit the cannon. */
static int move_bombs(Invaders *s) {
    for (int k = 0; k < MAX_BOMBS; k++) {
        Shot *b = &s->bombs[k];
        if (!b->live) {
            if (s->aliens && atari_rng_int(&s->rng, 1, BOMB_CHANCE) == 1) drop_bomb(s, b);
            continue;
        }
        for (int i = 0; i < BOMB_SPEED && b->live; i++) {
            b->y++;
            int tip = b->y + SHOT_H - 1;
            if (tip >= SHOT_BOTTOM || erode(s, b->x, tip)) {
                b->live = 0;
            } else if (!s->dead && tip >= PLAYER_Y && b->x >= s->player_x && b->x < s->player_x + PLAYER_W) {
                b->live = 0;
                return 1;
            }
        }
    }
    return 0;
}

static void move_satellite(Invaders *s) {
    Shot *t = &s->sat;
    if (!t->live) {
        if (--s->sat_timer > 0) return;
        s->sat_timer = atari_rng_int(&s->rng, 600, 1200);
        s->sat_dir = atari_rng_int(&s->rng, 0, 1) ? 1 : -1;
        t->live = 1;
        t->gen++;
        t->x = s->sat_dir > 0 ? 0 : ATARI_WIDTH - SAT_W;
        t->y = SAT_Y;
        return;
    }
    t->x += s->sat_dir;
    if (t->x < 0 || t->x > ATARI_WIDTH - SAT_W) t->live = 0;
}

static int frame(Invaders *s, int action) {
    int reward = 0;
    if (s->dead) {
        if (--s->dead == 0) s->player_x = PLAYER_MIN_X;
    } else {
        if (action == RIGHT || action == RIGHTFIRE) s->player_x++;
        else if (action == LEFT || action == LEFTFIRE) s->player_x--;
        s->player_x = clamp(s->player_x, PLAYER_MIN_X, PLAYER_MAX_X);
        if ((action == FIRE || action == RIGHTFIRE || action == LEFTFIRE) && !s->laser.live) {
            s->laser.live = 1;
            s->laser.gen++;
            s->laser.x = s->player_x + PLAYER_W / 2;
            s->laser.y = PLAYER_Y - SHOT_H + 1;
        }
    }
    reward += move_laser(s);
    move_satellite(s);
    if (move_aliens(s)) {
        s->lives = 0;           /* invaded: the game is over */
        s->done = 1;
        return reward;
    }
    if (move_bombs(s)) {
        s->lives--;
        s->dead = DEAD_FRAMES;
        for (int k = 0; k < MAX_BOMBS; k++) s->bombs[k].live = 0;
        s->laser.live = 0;
        if (s->lives <= 0) s->done = 1;
    }
    if (s->aliens == 0) new_wave(s);
    return reward;
}

static AtariStep step(void *state, int action) {
    Invaders *s = state;
    AtariStep r = {0, s->done};
    if (s->done) return r;
    s->prev_fx = s->fx;
    s->prev_fy = s->fy;
    s->prev_wave = s->wave;
    s->prev_player_x = s->player_x;
    s->prev_dead = s->dead;
    s->prev_laser = s->laser;
    s->prev_sat = s->sat;
    memcpy(s->prev_bombs, s->bombs, sizeof s->bombs);
    for (int f = 0; f < ATARI_FRAMESKIP && !s->done; f++) r.reward += frame(s, action);
    s->points += r.reward;
    r.done = s->done;
    return r;
}

static void put(AtariObject *o, const char *cat, int x, int y, int w, int h, int dx, int dy) {
    o->category = cat;
    o->x = x;
    o->y = y;
    o->w = w;
    o->h = h;
    o->dx = dx;
    o->dy = dy;
}

static int put_shot(AtariObject *o, const char *cat, const Shot *now, const Shot *prev, int w, int h) {
    int seen = prev->live && prev->gen == now->gen;
    put(o, cat, now->x, now->y, w, h, seen ? now->x - prev->x : 0, seen ? now->y - prev->y : 0);
    return 1;
}

static int objects(const void *state, AtariObject *out, int max) {
    const Invaders *s = state;
    int n = 0;
    if (!s->dead && n < max) {
        int seen = !s->prev_dead;
        put(&out[n++], "Player", s->player_x, PLAYER_Y, PLAYER_W, PLAYER_H, seen ? s->player_x - s->prev_player_x : 0, 0);
    }
    int same = s->wave == s->prev_wave;
    for (int r = 0; r < ROWS; r++)
        for (int c = 0; c < COLS && s->alive[r]; c++) {
            if (!(s->alive[r] & (1u << c))) continue;
            if (n == max) return n;
            put(&out[n++], "Alien", s->fx + c * PITCH_X, s->fy + r * PITCH_Y, ALIEN_W, ALIEN_H,
                same ? s->fx - s->prev_fx : 0, same ? s->fy - s->prev_fy : 0);
        }
    for (int i = 0; i < SHIELDS && n < max; i++)
        if (s->shields[i]) put(&out[n++], "Shield", shield_x[i], SHIELD_Y, SHIELD_W, SHIELD_H, 0, 0);
    if (s->laser.live && n < max) n += put_shot(&out[n], "Bullet", &s->laser, &s->prev_laser, SHOT_W, SHOT_H);
    for (int k = 0; k < MAX_BOMBS && n < max; k++)
        if (s->bombs[k].live) n += put_shot(&out[n], "Bullet", &s->bombs[k], &s->prev_bombs[k], SHOT_W, SHOT_H);
    if (s->sat.live && n < max) n += put_shot(&out[n], "Satellite", &s->sat, &s->prev_sat, SAT_W, SAT_H);
    return n;
}

static int score(const void *state) {
    return ((const Invaders *)state)->points;
}

static int lives(const void *state) {
    return ((const Invaders *)state)->lives;
}

const AtariGame atari_space_invaders = {
    .name = "space_invaders",
    .actions = actions,
    .n_actions = 6,
    .state_size = sizeof(Invaders),
    .max_steps = 27000,
    .reset = reset,
    .step = step,
    .objects = objects,
    .score = score,
    .lives = lives,
};
