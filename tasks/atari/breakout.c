/*
** breakout.c - Breakout (Atari 2600, ALE's Breakout) at the level of objects.
**
** A wall of 6 rows x 18 blocks (8x6 px) sits under the ceiling; the player's paddle at the
** bottom sends the ball back, at an angle set by which quarter of the paddle it hits.
** FIRE serves a ball; a ball that falls past the paddle costs one of 5 lives. Blocks are
** worth 7 in the two top rows (red, orange), 4 in the next two (yellow, green) and 1 in
** the bottom two (aqua, blue). The ball speeds up after 4 and 12 hits and on its first
** orange and first red block; the paddle shrinks to half once the ball reaches the
** ceiling. Clearing the wall brings a second one; clearing that ends the game (864 points
** at most).
**
** Objects are OCAtari's: "Player" (the paddle), "Ball" (while in play) and one "BlockRow"
** per run of adjacent standing blocks in a row.
**
** Ball positions are kept in 1/16 px and moved in sub-steps of at most a pixel, so it
** never passes through a block or the paddle.
*/
#include "game.h"

#include <string.h>

#define SUB           16          /* sub-pixel units per pixel */
#define WALL_LEFT     8           /* first column of the field */
#define WALL_RIGHT    152         /* first column past it */
#define CEILING       32          /* first row of the field */
#define ROWS          6
#define COLS          18
#define BLOCK_W       8
#define BLOCK_H       6
#define BLOCK_TOP     57
#define PADDLE_Y      189
#define PADDLE_H      4
#define PADDLE_W      16
#define PADDLE_SPEED  3           /* px per frame */
#define BALL_W        2
#define BALL_H        4
#define BALL_LOST_Y   196         /* a ball whose top passes this row is lost */
#define SERVE_Y       100
#define LIVES         5
#define MAX_LEVEL     4

enum { NOOP, FIRE, RIGHT, LEFT };
static const char *const actions[] = {"NOOP", "FIRE", "RIGHT", "LEFT"};

/* Vertical speed per level, 1/16 px per frame, and horizontal speed per paddle quarter as
** a multiple (in quarters) of it: the outer quarters send the ball out flat and fast. */
static const int level_vy[MAX_LEVEL + 1] = {32, 40, 48, 56, 64};
static const int zone_vx[4] = {-5, -2, 2, 5};
static const int row_points[ROWS] = {7, 7, 4, 4, 1, 1};

typedef struct {
    uint64_t rng;
    uint32_t rows[ROWS];            /* bit c set: the block in column c stands */
    int blocks, wall;               /* blocks standing; 0 = first wall, 1 = second */
    int paddle_x, paddle_w;
    int ball_x, ball_y;             /* top-left, 1/16 px */
    int zone, up, level, ball_live; /* the ball's direction: paddle quarter, going up */
    int serves;                     /* balls served: a new ball is a new object */
    int hits, hit_orange, hit_red, hit_ceiling;
    int lives, points, done;
    /* the previous step's positions, for dx and dy */
    int prev_paddle_x, prev_ball_x, prev_ball_y, prev_ball_live, prev_serves;
} Breakout;

static int clamp(int v, int lo, int hi) {
    return v < lo ? lo : v > hi ? hi : v;
}

static void fill_wall(Breakout *b) {
    for (int r = 0; r < ROWS; r++) b->rows[r] = (1u << COLS) - 1;
    b->blocks = ROWS * COLS;
}

static void reset(void *state, uint64_t seed) {
    Breakout *b = state;
    memset(b, 0, sizeof *b);
    b->rng = seed;
    fill_wall(b);
    b->paddle_w = PADDLE_W;
    b->paddle_x = (WALL_LEFT + WALL_RIGHT - PADDLE_W) / 2;
    b->prev_paddle_x = b->paddle_x;
    b->lives = LIVES;
}

static int vx_of(const Breakout *b) {
    return zone_vx[b->zone] * level_vy[b->level] / 4;
}

static int vy_of(const Breakout *b) {
    return b->up ? -level_vy[b->level] : level_vy[b->level];
}

static void launch(Breakout *b) {
    b->ball_x = atari_rng_int(&b->rng, WALL_LEFT + 16, WALL_RIGHT - 16) * SUB;
    b->ball_y = SERVE_Y * SUB;
    b->zone = atari_rng_int(&b->rng, 0, 3);
    b->up = 0;
    b->level = 0;
    b->hits = b->hit_orange = b->hit_red = b->hit_ceiling = 0;
    b->paddle_w = PADDLE_W;
    b->ball_live = 1;
    b->serves++;
}

static void speed_up(Breakout *b) {
    if (b->level < MAX_LEVEL) b->level++;
}

/* Breaks the first standing block under the ball, if any; returns its points. */
static int hit_block(Breakout *b) {
    int x = b->ball_x / SUB, y = b->ball_y / SUB;
    if (y + BALL_H <= BLOCK_TOP || y >= BLOCK_TOP + ROWS * BLOCK_H) return 0;
    int r0 = clamp((y - BLOCK_TOP) / BLOCK_H, 0, ROWS - 1), r1 = clamp((y + BALL_H - 1 - BLOCK_TOP) / BLOCK_H, 0, ROWS - 1);
    int c0 = clamp((x - WALL_LEFT) / BLOCK_W, 0, COLS - 1), c1 = clamp((x + BALL_W - 1 - WALL_LEFT) / BLOCK_W, 0, COLS - 1);
    /* The row the ball comes from first: going up it meets the lower row before. */
    for (int i = 0; i <= r1 - r0; i++) {
        int r = b->up ? r1 - i : r0 + i;
        for (int c = c0; c <= c1; c++) {
            if (!(b->rows[r] & (1u << c))) continue;
            b->rows[r] &= ~(1u << c);
            b->blocks--;
            b->up = !b->up;
            b->hits++;
            if (b->hits == 4 || b->hits == 12) speed_up(b);
            if (r == 1 && !b->hit_orange) b->hit_orange = 1, speed_up(b);
            if (r == 0 && !b->hit_red) b->hit_red = 1, speed_up(b);
            return row_points[r];
        }
    }
    return 0;
}

static void hit_paddle(Breakout *b) {
    int x = b->ball_x / SUB, y = b->ball_y / SUB;
    if (b->up || y + BALL_H < PADDLE_Y || y >= PADDLE_Y + PADDLE_H) return;
    if (x + BALL_W <= b->paddle_x || x >= b->paddle_x + b->paddle_w) return;
    b->zone = clamp((x + BALL_W / 2 - b->paddle_x) * 4 / b->paddle_w, 0, 3);
    b->up = 1;
    b->ball_y = (PADDLE_Y - BALL_H) * SUB;
}

/* Moves the ball one frame in sub-steps of at most one pixel per axis; returns points. */
static int move_ball(Breakout *b) {
    int points = 0;
    int vx = vx_of(b), vy = vy_of(b);
    int ax = vx < 0 ? -vx : vx, ay = vy < 0 ? -vy : vy;
    int n = ((ax > ay ? ax : ay) + SUB - 1) / SUB;
    if (n < 1) n = 1;
    for (int i = 0; i < n && b->ball_live; i++) {
        vx = vx_of(b);
        vy = vy_of(b);
        b->ball_x += vx * (i + 1) / n - vx * i / n;
        if (b->ball_x < WALL_LEFT * SUB) {
            b->ball_x = 2 * WALL_LEFT * SUB - b->ball_x;
            b->zone = 3 - b->zone;
        } else if (b->ball_x > (WALL_RIGHT - BALL_W) * SUB) {
            b->ball_x = 2 * (WALL_RIGHT - BALL_W) * SUB - b->ball_x;
            b->zone = 3 - b->zone;
        }
        b->ball_y += vy * (i + 1) / n - vy * i / n;
        if (b->ball_y < CEILING * SUB) {
            b->ball_y = 2 * CEILING * SUB - b->ball_y;
            b->up = 0;
            if (!b->hit_ceiling) b->hit_ceiling = 1, b->paddle_w = PADDLE_W / 2;
        }
        points += hit_block(b);
        hit_paddle(b);
        if (b->ball_y / SUB > BALL_LOST_Y) {
            b->ball_live = 0;
            b->lives--;
        }
    }
    return points;
}

static int frame(Breakout *b, int action) {
    if (action == RIGHT) b->paddle_x += PADDLE_SPEED;
    else if (action == LEFT) b->paddle_x -= PADDLE_SPEED;
    b->paddle_x = clamp(b->paddle_x, WALL_LEFT, WALL_RIGHT - b->paddle_w);
    if (!b->ball_live) {
        if (action == FIRE) launch(b);
        return 0;
    }
    int points = move_ball(b);
    if (b->blocks == 0) {
        if (b->wall == 0) {
            b->wall = 1;
            fill_wall(b);
        } else {
            b->done = 1;
        }
    }
    if (b->lives <= 0) b->done = 1;
    return points;
}

static AtariStep step(void *state, int action) {
    Breakout *b = state;
    AtariStep r = {0, b->done};
    if (b->done) return r;
    b->prev_paddle_x = b->paddle_x;
    b->prev_ball_x = b->ball_x / SUB;
    b->prev_ball_y = b->ball_y / SUB;
    b->prev_ball_live = b->ball_live;
    b->prev_serves = b->serves;
    for (int f = 0; f < ATARI_FRAMESKIP && !b->done; f++) r.reward += frame(b, action);
    b->points += r.reward;
    r.done = b->done;
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

static int objects(const void *state, AtariObject *out, int max) {
    const Breakout *b = state;
    int n = 0;
    if (n < max) put(&out[n++], "Player", b->paddle_x, PADDLE_Y, b->paddle_w, PADDLE_H, b->paddle_x - b->prev_paddle_x, 0);
    if (b->ball_live && n < max) {
        int x = b->ball_x / SUB, y = b->ball_y / SUB, seen = b->prev_ball_live && b->prev_serves == b->serves;
        put(&out[n++], "Ball", x, y, BALL_W, BALL_H, seen ? x - b->prev_ball_x : 0, seen ? y - b->prev_ball_y : 0);
    }
    /* Like OCAtari, one BlockRow per run of adjacent standing blocks in a row. */
    for (int r = 0; r < ROWS; r++) {
        uint32_t bits = b->rows[r];
        int c = 0;
        while (bits >> c) {
            if (!(bits & (1u << c))) {
                c++;
                continue;
            }
            int start = c;
            while (c < COLS && (bits & (1u << c))) c++;
            if (n == max) return n;
            put(&out[n++], "BlockRow", WALL_LEFT + start * BLOCK_W, BLOCK_TOP + r * BLOCK_H, (c - start) * BLOCK_W,
                BLOCK_H, 0, 0);
        }
    }
    return n;
}

static int score(const void *state) {
    return ((const Breakout *)state)->points;
}

static int lives(const void *state) {
    return ((const Breakout *)state)->lives;
}

const AtariGame atari_breakout = {
    .name = "breakout",
    .actions = actions,
    .n_actions = 4,
    .state_size = sizeof(Breakout),
    .max_steps = 27000,
    .reset = reset,
    .step = step,
    .objects = objects,
    .score = score,
    .lives = lives,
};
