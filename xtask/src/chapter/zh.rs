//! The words the Chinese edition's generated tables use: the variants'
//! labels and the tables' headers. The numbers are the English edition's,
//! from the same records.

/// The Chinese label of a variant, by its id (`None` for an id without one:
/// the tests require every variant to have one).
pub fn label(id: &str) -> Option<&'static str> {
    Some(match id {
        "ex1-tabular" => "表格型 Q-learning（3·3·6·6 网格）",
        "ex1-online" => "在线神经网络 Q-learning",
        "ex1-dqn" => "DQN（原设置）",
        "ex2-greedy" => "纯贪心（ε = 0）",
        "ex2-constant" => "固定 ε = 0.1",
        "ex2-decay50" => "ε 衰减 50",
        "ex2-decay500" => "ε 衰减 500（原设置）",
        "ex2-decay5000" => "ε 衰减 5000",
        "ex3-every1" => "每步复制（无目标网络）",
        "ex3-every4" => "每 4 步复制（原设置）",
        "ex3-every100" => "每 100 步复制",
        "ex3-every1000" => "每 1000 步复制",
        "ex3-soft" => "软更新，τ = 0.01",
        "ex3-double" => "Double DQN，每 4 步复制",
        "ex4-cap64" => "容量 64（一个批量）",
        "ex4-cap1000" => "容量 1 000",
        "ex4-cap10000" => "容量 10 000",
        "ex4-cap100000" => "容量 100 000（原设置）",
        "ex4-recent" => "最近 64 个（不打乱）",
        "p2d-acro-dqn" | "p2d-mc-dqn" => "DQN",
        "p2d-acro-double" | "p2d-mc-double" => "Double DQN",
        "p2n-eps" => "ε-贪心，8 000 步内从 1 降到 0.07",
        "p2n-noisy" => "噪声网络输出层，σ₀ 0.5，无 ε",
        "p2n-greedy" => "两者都没有（ε = 0，无噪声）",
        "p2s-dqn" => "DQN（均匀采样，单步）",
        "p2s-per" => "优先经验回放",
        "p2s-nstep" => "3 步回报",
        "p2s-both" => "两者同时",
        _ => return None,
    })
}
