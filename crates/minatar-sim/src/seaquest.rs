//! Seaquest: a submarine shoots fish and enemy subs, rescues divers, and
//! must surface before its oxygen runs out; a full surfacing with six
//! divers pays an oxygen bonus.
//!
//! The reference keeps its objects in Python lists, walks them backwards
//! (`reversed(list)`, an index that keeps going down as items are removed)
//! and removes by value (`list.remove(x)`: the first equal item, not
//! necessarily `x`). [`Objects`] keeps those semantics exactly: items have
//! identities, lookups compare values, and a walk is an index.

use std::num::NonZeroU32;

use crate::numpy_random::NumpyRandom;
use crate::{Action, Grid, SIDE};

/// Channels: 0 sub front, 1 sub back, 2 friendly bullet, 3 trail, 4 enemy
/// bullet, 5 enemy fish, 6 enemy sub, 7 oxygen gauge, 8 diver gauge, 9 diver.
pub(crate) const CHANNELS: usize = 10;

const MAX_OXYGEN: i32 = 200;
const INIT_SPAWN_SPEED: i32 = 20;
const DIVER_SPAWN_SPEED: i32 = 30;
const INIT_MOVE_INTERVAL: i32 = 5;
const SHOT_COOL_DOWN: i32 = 5;
const ENEMY_SHOT_INTERVAL: i32 = 10;
const DIVER_MOVE_INTERVAL: i32 = 5;
const EIGHT: NonZeroU32 = NonZeroU32::new(8).expect("8 is not 0");

/// A moving thing: position, direction (right) and two timers (move and
/// shot; unused ones 0). Equal values are what `list.remove` compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Thing {
    x: i32,
    y: i32,
    right: bool,
    move_timer: i32,
    shot_timer: i32,
}

/// A Python list of things: items with identities, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Objects {
    items: Vec<(u32, Thing)>,
}

impl Objects {
    fn push(&mut self, id: u32, thing: Thing) {
        self.items.push((id, thing));
    }

    /// `list.remove(value)`: the first item equal to `value`.
    fn remove_value(&mut self, value: Thing) {
        if let Some(i) = self.items.iter().position(|&(_, t)| t == value) {
            self.items.remove(i);
        }
    }

    /// Writes `thing` back to the item with identity `id`, if still listed.
    fn store(&mut self, id: u32, thing: Thing) {
        if let Some(item) = self.items.iter_mut().find(|(i, _)| *i == id) {
            item.1 = thing;
        }
    }

    /// `reversed(list)`'s next item from `index` (counting down): `None`
    /// once the index has left the list.
    fn walk_back(&self, index: &mut isize) -> Option<(u32, Thing)> {
        let i = usize::try_from(*index).ok().filter(|&i| i < self.items.len())?;
        *index -= 1;
        Some(self.items[i])
    }

    fn start(&self) -> isize {
        self.items.len() as isize - 1
    }

    fn at(&self, x: i32, y: i32) -> Option<Thing> {
        self.items.iter().map(|&(_, t)| t).find(|t| (t.x, t.y) == (x, y))
    }
}

/// Which list of enemies.
#[derive(Debug, Clone, Copy)]
enum Enemies {
    Subs,
    Fish,
}

/// The state of a Seaquest game.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Seaquest {
    ramping: bool,
    oxygen: i32,
    diver_count: i32,
    sub_x: i32,
    sub_y: i32,
    /// Facing right.
    sub_right: bool,
    f_bullets: Objects,
    e_bullets: Objects,
    e_fish: Objects,
    e_subs: Objects,
    divers: Objects,
    e_spawn_speed: i32,
    e_spawn_timer: i32,
    d_spawn_timer: i32,
    move_speed: i32,
    ramp_index: i32,
    shot_timer: i32,
    surface: bool,
    terminal: bool,
    next_id: u32,
}

impl Seaquest {
    pub(crate) fn new(ramping: bool) -> Self {
        Self {
            ramping,
            oxygen: MAX_OXYGEN,
            diver_count: 0,
            sub_x: 5,
            sub_y: 0,
            sub_right: false,
            f_bullets: Objects::default(),
            e_bullets: Objects::default(),
            e_fish: Objects::default(),
            e_subs: Objects::default(),
            divers: Objects::default(),
            e_spawn_speed: INIT_SPAWN_SPEED,
            e_spawn_timer: INIT_SPAWN_SPEED,
            d_spawn_timer: DIVER_SPAWN_SPEED,
            move_speed: INIT_MOVE_INTERVAL,
            ramp_index: 0,
            shot_timer: 0,
            surface: true,
            terminal: false,
            next_id: 0,
        }
    }

    /// A new game, as [`new`](Self::new) makes it, in this one's lists.
    pub(crate) fn restart(&mut self) {
        let mut lists = [
            std::mem::take(&mut self.f_bullets),
            std::mem::take(&mut self.e_bullets),
            std::mem::take(&mut self.e_fish),
            std::mem::take(&mut self.e_subs),
            std::mem::take(&mut self.divers),
        ];
        for list in &mut lists {
            list.items.clear();
        }
        let [f_bullets, e_bullets, e_fish, e_subs, divers] = lists;
        *self = Self { f_bullets, e_bullets, e_fish, e_subs, divers, ..Self::new(self.ramping) };
    }

    pub(crate) fn terminal(&self) -> bool {
        self.terminal
    }

    fn id(&mut self) -> u32 {
        self.next_id = self.next_id.wrapping_add(1);
        self.next_id
    }

    fn at_sub(&self, t: &Thing) -> bool {
        (t.x, t.y) == (self.sub_x, self.sub_y)
    }

    pub(crate) fn act(&mut self, action: Action, random: &mut NumpyRandom) -> i32 {
        if self.terminal {
            return 0;
        }
        let mut reward = 0;
        if self.e_spawn_timer == 0 {
            self.spawn_enemy(random);
            self.e_spawn_timer = self.e_spawn_speed;
        }
        if self.d_spawn_timer == 0 {
            self.spawn_diver(random);
            self.d_spawn_timer = DIVER_SPAWN_SPEED;
        }
        if action == Action::Fire && self.shot_timer == 0 {
            let (id, right) = (self.id(), self.sub_right);
            self.f_bullets.push(id, Thing { x: self.sub_x, y: self.sub_y, right, move_timer: 0, shot_timer: 0 });
            self.shot_timer = SHOT_COOL_DOWN;
        }
        // The sub is always inside 0..=9 × 0..=8, so clamping the unmoved
        // axis changes nothing; a move left or right turns it.
        let (dx, dy) = action.delta();
        self.sub_x = (self.sub_x + dx).clamp(0, 9);
        self.sub_y = (self.sub_y + dy).clamp(0, 8);
        if dx != 0 {
            self.sub_right = dx > 0;
        }
        reward += self.update_friendly_bullets();
        self.update_divers();
        reward += self.update_enemy_subs();
        self.update_enemy_bullets();
        reward += self.update_fish();
        for timer in [&mut self.e_spawn_timer, &mut self.d_spawn_timer, &mut self.shot_timer] {
            if *timer > 0 {
                *timer -= 1;
            }
        }
        if self.oxygen <= 0 {
            self.terminal = true;
        }
        if self.sub_y > 0 {
            self.oxygen -= 1;
            self.surface = false;
        } else if !self.surface {
            if self.diver_count == 0 {
                self.terminal = true;
            } else {
                reward += self.surface_now();
            }
        }
        reward
    }

    fn update_friendly_bullets(&mut self) -> i32 {
        let mut reward = 0;
        let mut index = self.f_bullets.start();
        while let Some((id, mut bullet)) = self.f_bullets.walk_back(&mut index) {
            bullet.x += if bullet.right { 1 } else { -1 };
            self.f_bullets.store(id, bullet);
            if !(0..=9).contains(&bullet.x) {
                self.f_bullets.remove_value(bullet);
            } else if let Some(fish) = self.e_fish.at(bullet.x, bullet.y) {
                self.e_fish.remove_value(fish);
                self.f_bullets.remove_value(bullet);
                reward += 1;
            } else if let Some(sub) = self.e_subs.at(bullet.x, bullet.y) {
                self.e_subs.remove_value(sub);
                self.f_bullets.remove_value(bullet);
                reward += 1;
            }
        }
        reward
    }

    fn update_divers(&mut self) {
        let mut index = self.divers.start();
        while let Some((id, mut diver)) = self.divers.walk_back(&mut index) {
            if self.at_sub(&diver) && self.diver_count < 6 {
                self.divers.remove_value(diver);
                self.diver_count += 1;
            } else if diver.move_timer == 0 {
                diver.move_timer = DIVER_MOVE_INTERVAL;
                diver.x += if diver.right { 1 } else { -1 };
                self.divers.store(id, diver);
                if !(0..=9).contains(&diver.x) {
                    self.divers.remove_value(diver);
                } else if self.at_sub(&diver) && self.diver_count < 6 {
                    self.divers.remove_value(diver);
                    self.diver_count += 1;
                }
            } else {
                diver.move_timer -= 1;
                self.divers.store(id, diver);
            }
        }
    }

    /// One enemy's step, fish or sub alike: a collision where it is, then,
    /// when its timer is up, a move (off the board: removed; onto the sub:
    /// the end; onto a friendly bullet: both removed, +1). Returns the enemy
    /// as it now is (removed or not: a sub goes on to shoot) and the reward.
    fn step_enemy(&mut self, which: Enemies, id: u32, mut enemy: Thing) -> (Thing, i32) {
        if self.at_sub(&enemy) {
            self.terminal = true;
        }
        if enemy.move_timer == 0 {
            enemy.move_timer = self.move_speed;
            enemy.x += if enemy.right { 1 } else { -1 };
            self.enemies(which).store(id, enemy);
            if !(0..=9).contains(&enemy.x) {
                self.enemies(which).remove_value(enemy);
            } else if self.at_sub(&enemy) {
                self.terminal = true;
            } else if let Some(bullet) = self.f_bullets.at(enemy.x, enemy.y) {
                self.enemies(which).remove_value(enemy);
                self.f_bullets.remove_value(bullet);
                return (enemy, 1);
            }
        } else {
            enemy.move_timer -= 1;
            self.enemies(which).store(id, enemy);
        }
        (enemy, 0)
    }

    fn enemies(&mut self, which: Enemies) -> &mut Objects {
        match which {
            Enemies::Subs => &mut self.e_subs,
            Enemies::Fish => &mut self.e_fish,
        }
    }

    fn update_enemy_subs(&mut self) -> i32 {
        let mut reward = 0;
        let mut index = self.e_subs.start();
        while let Some((id, sub)) = self.e_subs.walk_back(&mut index) {
            let (mut sub, r) = self.step_enemy(Enemies::Subs, id, sub);
            reward += r;
            // A sub removed above still shoots from its last cell (the
            // reference's quirk: the loop goes on with the removed item).
            if sub.shot_timer == 0 {
                sub.shot_timer = ENEMY_SHOT_INTERVAL;
                let bullet_id = self.id();
                self.e_bullets
                    .push(bullet_id, Thing { x: sub.x, y: sub.y, right: sub.right, move_timer: 0, shot_timer: 0 });
            } else {
                sub.shot_timer -= 1;
            }
            self.e_subs.store(id, sub);
        }
        reward
    }

    fn update_enemy_bullets(&mut self) {
        let mut index = self.e_bullets.start();
        while let Some((id, mut bullet)) = self.e_bullets.walk_back(&mut index) {
            if self.at_sub(&bullet) {
                self.terminal = true;
            }
            bullet.x += if bullet.right { 1 } else { -1 };
            self.e_bullets.store(id, bullet);
            if !(0..=9).contains(&bullet.x) {
                self.e_bullets.remove_value(bullet);
            } else if self.at_sub(&bullet) {
                self.terminal = true;
            }
        }
    }

    fn update_fish(&mut self) -> i32 {
        let mut reward = 0;
        let mut index = self.e_fish.start();
        while let Some((id, fish)) = self.e_fish.walk_back(&mut index) {
            reward += self.step_enemy(Enemies::Fish, id, fish).1;
        }
        reward
    }

    /// Surfacing with divers: the bonus for six, oxygen refilled, one
    /// diver fewer (after a full six: −1, the reference's bug), the ramp.
    fn surface_now(&mut self) -> i32 {
        self.surface = true;
        let reward = if self.diver_count == 6 {
            self.diver_count = 0;
            // Python's floor division (the oxygen is never negative here).
            (self.oxygen * 10).div_euclid(MAX_OXYGEN)
        } else {
            0
        };
        self.oxygen = MAX_OXYGEN;
        self.diver_count -= 1;
        if self.ramping && (self.e_spawn_speed > 1 || self.move_speed > 2) {
            if self.move_speed > 2 && self.ramp_index % 2 == 1 {
                self.move_speed -= 1;
            }
            if self.e_spawn_speed > 1 {
                self.e_spawn_speed -= 1;
            }
            self.ramp_index += 1;
        }
        reward
    }

    /// Side, kind and row are drawn first; nothing spawns if an enemy in
    /// that row moves the other way.
    fn spawn_enemy(&mut self, random: &mut NumpyRandom) {
        let right = random.rand() < 0.5;
        let is_sub = random.rand() < 1.0 / 3.0;
        let y = 1 + random.randint(EIGHT) as i32;
        let blocked = self.e_subs.items.iter().chain(&self.e_fish.items).any(|(_, t)| t.y == y && t.right != right);
        if blocked {
            return;
        }
        let x = if right { 0 } else { 9 };
        let id = self.id();
        if is_sub {
            let sub = Thing { x, y, right, move_timer: self.move_speed, shot_timer: ENEMY_SHOT_INTERVAL };
            self.e_subs.push(id, sub);
        } else {
            self.e_fish.push(id, Thing { x, y, right, move_timer: self.move_speed, shot_timer: 0 });
        }
    }

    fn spawn_diver(&mut self, random: &mut NumpyRandom) {
        let right = random.rand() < 0.5;
        let y = 1 + random.randint(EIGHT) as i32;
        let id = self.id();
        let x = if right { 0 } else { 9 };
        self.divers.push(id, Thing { x, y, right, move_timer: DIVER_MOVE_INTERVAL, shot_timer: 0 });
    }

    pub(crate) fn draw(&self, grid: &mut Grid) {
        grid.set(0, self.sub_y, self.sub_x);
        let back = if self.sub_right { self.sub_x - 1 } else { self.sub_x + 1 };
        // numpy wraps a column of −1 to 9.
        grid.set(1, self.sub_y, if back < 0 { back + 10 } else { back });
        // The oxygen is at most its maximum, the divers −1..=6: both runs
        // lie inside the bottom row (the divers' is empty at −1, as
        // numpy's `9 - (-1):9` is).
        let oxygen = usize::try_from(self.oxygen.max(0) * 10 / MAX_OXYGEN).expect("not negative");
        grid.set_run(7, 9, 0..oxygen.min(SIDE));
        let divers = usize::try_from(self.diver_count.clamp(0, 9)).expect("not negative");
        grid.set_run(8, 9, 9 - divers..9);
        for (channel, list) in [(2, &self.f_bullets), (4, &self.e_bullets)] {
            for (_, b) in &list.items {
                grid.set(channel, b.y, b.x);
            }
        }
        for (channel, list) in [(5, &self.e_fish), (6, &self.e_subs), (9, &self.divers)] {
            for (_, t) in &list.items {
                grid.set(channel, t.y, t.x);
                let back = if t.right { t.x - 1 } else { t.x + 1 };
                if (0..=9).contains(&back) {
                    grid.set(3, t.y, back);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Seaquest;
    use crate::Action;
    use crate::numpy_random::NumpyRandom;

    /// A restarted game is a new one, whatever its lists held.
    #[test]
    fn a_restart_is_a_new_game() {
        for ramping in [true, false] {
            let mut random = NumpyRandom::new(3);
            let mut game = Seaquest::new(ramping);
            for step in 0..400 {
                let action = [Action::Fire, Action::Down, Action::Left, Action::Fire, Action::Right][step % 5];
                game.act(action, &mut random);
            }
            let lists = [&game.f_bullets, &game.e_bullets, &game.e_fish, &game.e_subs, &game.divers];
            assert!(lists.iter().any(|l| !l.items.is_empty()), "the test should restart a game with objects");
            game.restart();
            assert_eq!(game, Seaquest::new(ramping));
        }
    }
}
