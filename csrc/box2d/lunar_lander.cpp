// The port of gymnasium's lunar_lander.py; comments name the Python it mirrors where the
// arithmetic order matters (every double expression keeps Python's evaluation order, so the
// numbers handed to Box2D round to the same floats).
#include "lunar_lander.h"

#include <Box2D/Box2D.h>
#include <omp.h>

#include <cmath>
#include <stdexcept>
#include <string>

namespace lf::box2d {
namespace {

constexpr double kFps = 50.0;
constexpr double kScale = 30.0;
constexpr double kMainEnginePower = 13.0;
constexpr double kSideEnginePower = 0.6;
constexpr double kInitialRandom = 1000.0;
constexpr int kLegAway = 20, kLegDown = 18, kLegW = 2, kLegH = 8;
constexpr double kLegSpringTorque = 40.0;
constexpr double kSideEngineHeight = 14.0, kSideEngineAway = 12.0;
constexpr double kMainEngineY = 4.0;
constexpr double kViewportW = 600.0, kViewportH = 400.0;
constexpr int kChunks = 11;
constexpr int kLanderPoly[6][2] = {{-14, 17}, {-17, 0}, {-17, -10}, {17, -10}, {17, 0}, {14, 17}};

b2Vec2 vec(double x, double y) { return b2Vec2(static_cast<float32>(x), static_cast<float32>(y)); }

}  // namespace

// gymnasium's ContactDetector: the lander's body touching anything ends the game; a leg's contact
// with the ground is part of the observation.
struct LunarLander::Contacts : b2ContactListener {
  b2Body* lander = nullptr;
  b2Body* legs[2] = {nullptr, nullptr};
  bool game_over = false;
  bool leg_contact[2] = {false, false};

  static bool touches(b2Contact* c, b2Body* body) {
    return c->GetFixtureA()->GetBody() == body || c->GetFixtureB()->GetBody() == body;
  }
  void BeginContact(b2Contact* c) override {
    if (touches(c, lander)) game_over = true;
    for (int i = 0; i < 2; ++i)
      if (touches(c, legs[i])) leg_contact[i] = true;
  }
  void EndContact(b2Contact* c) override {
    for (int i = 0; i < 2; ++i)
      if (touches(c, legs[i])) leg_contact[i] = false;
  }
};

LunarLander::LunarLander() : contacts_(std::make_unique<Contacts>()) {}
LunarLander::~LunarLander() = default;

void LunarLander::reset(SplitMix64& rng, float* obs) {
  // A fresh world per episode (gymnasium v3's determinism fix; v2 reused a half-cleared one).
  world_ = std::make_unique<b2World>(b2Vec2(0.0f, -10.0f));
  *contacts_ = Contacts{};
  world_->SetContactListener(contacts_.get());
  has_prev_shaping_ = false;

  const double W = kViewportW / kScale, H = kViewportH / kScale;
  double height[kChunks + 1];
  for (double& h : height) h = rng.uniform(0.0, H / 2);  // np_random.uniform(0, H / 2, size=(CHUNKS + 1,))
  double chunk_x[kChunks];
  for (int i = 0; i < kChunks; ++i) chunk_x[i] = W / (kChunks - 1) * i;
  helipad_y_ = H / 4;
  for (int i = kChunks / 2 - 2; i <= kChunks / 2 + 2; ++i) height[i] = helipad_y_;
  double smooth_y[kChunks];
  for (int i = 0; i < kChunks; ++i) {
    const double before = height[(i - 1 + kChunks + 1) % (kChunks + 1)];  // height[-1] is the last, as in Python
    smooth_y[i] = 0.33 * (before + height[i] + height[i + 1]);
  }

  b2BodyDef moon_def;  // static
  b2Body* moon = world_->CreateBody(&moon_def);
  b2EdgeShape edge;
  edge.Set(vec(0, 0), vec(W, 0));
  b2FixtureDef floor;  // pybox2d's default fixture: density 0, friction 0.2
  floor.shape = &edge;
  moon->CreateFixture(&floor);
  for (int i = 0; i < kChunks - 1; ++i) {
    b2EdgeShape chunk;
    chunk.Set(vec(chunk_x[i], smooth_y[i]), vec(chunk_x[i + 1], smooth_y[i + 1]));
    b2FixtureDef fd;
    fd.shape = &chunk;
    fd.density = 0.0f;
    fd.friction = 0.1f;
    moon->CreateFixture(&fd);
  }

  const double initial_y = kViewportH / kScale, initial_x = kViewportW / kScale / 2;
  b2BodyDef lander_def;
  lander_def.type = b2_dynamicBody;
  lander_def.position = vec(initial_x, initial_y);
  lander_def.angle = 0.0f;
  lander_ = world_->CreateBody(&lander_def);
  b2Vec2 poly[6];
  for (int k = 0; k < 6; ++k) poly[k] = vec(kLanderPoly[k][0] / kScale, kLanderPoly[k][1] / kScale);
  b2PolygonShape lander_shape;
  lander_shape.Set(poly, 6);
  b2FixtureDef lander_fix;
  lander_fix.shape = &lander_shape;
  lander_fix.density = 5.0f;
  lander_fix.friction = 0.1f;
  lander_fix.filter.categoryBits = 0x0010;
  lander_fix.filter.maskBits = 0x001;  // collide only with the ground
  lander_fix.restitution = 0.0f;
  lander_->CreateFixture(&lander_fix);
  const double push_x = rng.uniform(-kInitialRandom, kInitialRandom);
  const double push_y = rng.uniform(-kInitialRandom, kInitialRandom);
  lander_->ApplyForceToCenter(vec(push_x, push_y), true);

  for (int k = 0; k < 2; ++k) {
    const int i = k == 0 ? -1 : +1;
    b2BodyDef leg_def;
    leg_def.type = b2_dynamicBody;
    leg_def.position = vec(initial_x - static_cast<double>(i * kLegAway) / kScale, initial_y);
    leg_def.angle = static_cast<float32>(i * 0.05);
    b2Body* leg = world_->CreateBody(&leg_def);
    b2PolygonShape box;
    box.SetAsBox(static_cast<float32>(kLegW / kScale), static_cast<float32>(kLegH / kScale));
    b2FixtureDef leg_fix;  // friction: the default 0.2
    leg_fix.shape = &box;
    leg_fix.density = 1.0f;
    leg_fix.restitution = 0.0f;
    leg_fix.filter.categoryBits = 0x0020;
    leg_fix.filter.maskBits = 0x001;
    leg->CreateFixture(&leg_fix);
    b2RevoluteJointDef rjd;
    rjd.bodyA = lander_;
    rjd.bodyB = leg;
    // pybox2d's joint definitions default referenceAngle to bodyB.angle - bodyA.angle (in double).
    rjd.referenceAngle = static_cast<float32>(static_cast<double>(leg->GetAngle()) - lander_->GetAngle());
    rjd.localAnchorA = vec(0, 0);
    rjd.localAnchorB = vec(static_cast<double>(i * kLegAway) / kScale, kLegDown / kScale);
    rjd.enableMotor = true;
    rjd.enableLimit = true;
    rjd.maxMotorTorque = static_cast<float32>(kLegSpringTorque);
    rjd.motorSpeed = static_cast<float32>(+0.3 * i);  // low enough not to jump back into the sky
    if (i == -1) {
      rjd.lowerAngle = static_cast<float32>(+0.9 - 0.5);
      rjd.upperAngle = static_cast<float32>(+0.9);
    } else {
      rjd.lowerAngle = static_cast<float32>(-0.9);
      rjd.upperAngle = static_cast<float32>(-0.9 + 0.5);
    }
    world_->CreateJoint(&rjd);
    legs_[k] = leg;
  }
  contacts_->lander = lander_;
  contacts_->legs[0] = legs_[0];
  contacts_->legs[1] = legs_[1];

  bool terminated = false;
  step(0, rng, obs, &terminated);
}

double LunarLander::step(int action, SplitMix64& rng, float* obs, bool* terminated) {
  const double angle = lander_->GetAngle();
  const double tip[2] = {std::sin(angle), std::cos(angle)};
  const double side[2] = {-tip[1], tip[0]};
  double dispersion[2];
  for (double& d : dispersion) d = rng.uniform(-1.0, +1.0) / kScale;

  double m_power = 0.0;
  if (action == 2) {
    m_power = 1.0;
    const double ox = tip[0] * (kMainEngineY / kScale + 2 * dispersion[0]) + side[0] * dispersion[1];
    const double oy = -tip[1] * (kMainEngineY / kScale + 2 * dispersion[0]) - side[1] * dispersion[1];
    const b2Vec2 pos = lander_->GetPosition();
    const b2Vec2 at = vec(pos.x + ox, pos.y + oy);
    lander_->ApplyLinearImpulse(vec(-ox * kMainEnginePower * m_power, -oy * kMainEnginePower * m_power), at, true);
  }
  double s_power = 0.0;
  if (action == 1 || action == 3) {
    const int direction = action - 2;
    s_power = 1.0;
    const double away = static_cast<double>(direction * static_cast<int>(kSideEngineAway)) / kScale;
    const double ox = tip[0] * dispersion[0] + side[0] * (3 * dispersion[1] + away);
    const double oy = -tip[1] * dispersion[0] - side[1] * (3 * dispersion[1] + away);
    const b2Vec2 pos = lander_->GetPosition();
    const b2Vec2 at = vec(pos.x + ox - tip[0] * 17 / kScale, pos.y + oy + tip[1] * kSideEngineHeight / kScale);
    lander_->ApplyLinearImpulse(vec(-ox * kSideEnginePower * s_power, -oy * kSideEnginePower * s_power), at, true);
  }

  world_->Step(static_cast<float32>(1.0 / kFps), 6 * 30, 2 * 30);

  const b2Vec2 pos = lander_->GetPosition();
  const b2Vec2 vel = lander_->GetLinearVelocity();
  const double state[kObsDim] = {
      (pos.x - kViewportW / kScale / 2) / (kViewportW / kScale / 2),
      (pos.y - (helipad_y_ + kLegDown / kScale)) / (kViewportH / kScale / 2),
      vel.x * (kViewportW / kScale / 2) / kFps,
      vel.y * (kViewportH / kScale / 2) / kFps,
      static_cast<double>(lander_->GetAngle()),
      20.0 * lander_->GetAngularVelocity() / kFps,
      contacts_->leg_contact[0] ? 1.0 : 0.0,
      contacts_->leg_contact[1] ? 1.0 : 0.0,
  };
  for (int i = 0; i < kObsDim; ++i) obs[i] = static_cast<float>(state[i]);

  // Shaping: closer, slower, level and legs down are better (gymnasium's formula, term by term).
  const double shaping = -100 * std::sqrt(state[0] * state[0] + state[1] * state[1]) -
                         100 * std::sqrt(state[2] * state[2] + state[3] * state[3]) - 100 * std::abs(state[4]) +
                         10 * state[6] + 10 * state[7];
  double reward = has_prev_shaping_ ? shaping - prev_shaping_ : 0.0;
  prev_shaping_ = shaping;
  has_prev_shaping_ = true;
  reward -= m_power * 0.30;  // fuel
  reward -= s_power * 0.03;

  *terminated = false;
  if (contacts_->game_over || std::abs(state[0]) >= 1.0) {
    *terminated = true;
    reward = -100;
  }
  if (!lander_->IsAwake()) {  // came to rest
    *terminated = true;
    reward = +100;
  }
  return reward;
}

LunarLanderPool::LunarLanderPool(const std::vector<uint64_t>& seeds, int envs, int max_steps, int threads)
    : max_steps_(max_steps), threads_(threads) {
  if (envs < 1) throw std::invalid_argument("envs must be >= 1, got " + std::to_string(envs));
  if (seeds.empty()) throw std::invalid_argument("need at least one member seed, got none");
  if (max_steps < 1) throw std::invalid_argument("max_steps must be >= 1, got " + std::to_string(max_steps));
  if (threads < 0) throw std::invalid_argument("threads must be >= 0 (0 = OpenMP's default), got " + std::to_string(threads));
  for (uint64_t seed : seeds)
    for (int e = 0; e < envs; ++e) {
      envs_.push_back(std::make_unique<LunarLander>());
      rngs_.push_back(SplitMix64{mix(seed, static_cast<uint64_t>(e))});
    }
  steps_.assign(envs_.size(), 0);
  returns_.assign(envs_.size(), 0.0);
}

LunarLanderPool::~LunarLanderPool() = default;

void LunarLanderPool::reset(float* obs) {
  const int n = size();
  const int threads = threads_ > 0 ? threads_ : omp_get_max_threads();
#pragma omp parallel for schedule(dynamic, 4) num_threads(threads)
  for (int i = 0; i < n; ++i) {
    envs_[i]->reset(rngs_[i], obs + static_cast<int64_t>(i) * kObsDim);
    steps_[i] = 0;
    returns_[i] = 0.0;
  }
}

void LunarLanderPool::step(const int64_t* actions, const PoolOutputs& out) {
  const int n = size();
  for (int i = 0; i < n; ++i)
    if (actions[i] < 0 || actions[i] >= kActions)
      throw std::invalid_argument("LunarLander actions must be in [0, 4), got " + std::to_string(actions[i]) +
                                  " for environment " + std::to_string(i));
  const int threads = threads_ > 0 ? threads_ : omp_get_max_threads();
#pragma omp parallel for schedule(dynamic, 4) num_threads(threads)
  for (int i = 0; i < n; ++i) {
    float* obs = out.obs + static_cast<int64_t>(i) * kObsDim;
    bool terminated = false;
    const double reward = envs_[i]->step(static_cast<int>(actions[i]), rngs_[i], obs, &terminated);
    const bool truncated = !terminated && ++steps_[i] >= max_steps_;
    returns_[i] += reward;
    out.reward[i] = reward;
    out.terminated[i] = terminated;
    out.truncated[i] = truncated;
    out.episode_return[i] = (terminated || truncated) ? returns_[i] : 0.0;
    if (terminated || truncated) {
      envs_[i]->reset(rngs_[i], obs);
      steps_[i] = 0;
      returns_[i] = 0.0;
    }
  }
}

}  // namespace lf::box2d
