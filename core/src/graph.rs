//! Strongly connected components, for the analyses that must treat cycles
//! as a whole: the schema's stratification and the check's exact fixpoint.

/// The strongly connected components of the graph whose node `v` has the
/// successors `succ[v]`, by Tarjan's algorithm without recursion (a graph
/// built from data may be deep enough to overflow the stack).
///
/// Components come in reverse topological order: every edge leads to a node
/// of the same component or of an earlier one, so processing them in order
/// sees every successor settled first.
pub fn strongly_connected_components(succ: &[Vec<u32>]) -> Vec<Vec<u32>> {
    const UNSEEN: u32 = u32::MAX;
    let n = succ.len();
    let mut index = vec![UNSEEN; n];
    let mut low = vec![0u32; n];
    let mut on_stack = vec![false; n];
    let mut stack: Vec<u32> = Vec::new();
    let mut components = Vec::new();
    let mut next = 0u32;
    // The DFS: (node, how many of its successors were followed).
    let mut calls: Vec<(u32, usize)> = Vec::new();
    for root in 0..n as u32 {
        if index[root as usize] != UNSEEN {
            continue;
        }
        calls.push((root, 0));
        index[root as usize] = next;
        low[root as usize] = next;
        next += 1;
        stack.push(root);
        on_stack[root as usize] = true;
        while let Some(&mut (v, ref mut followed)) = calls.last_mut() {
            let vi = v as usize;
            if (next & 1023) == 0 {
                crate::interrupt::poll();
            }
            if let Some(&w) = succ[vi].get(*followed) {
                *followed += 1;
                let wi = w as usize;
                if index[wi] == UNSEEN {
                    index[wi] = next;
                    low[wi] = next;
                    next += 1;
                    stack.push(w);
                    on_stack[wi] = true;
                    calls.push((w, 0));
                } else if on_stack[wi] {
                    low[vi] = low[vi].min(index[wi]);
                }
                continue;
            }
            calls.pop();
            if let Some(&(u, _)) = calls.last() {
                low[u as usize] = low[u as usize].min(low[vi]);
            }
            if low[vi] == index[vi] {
                let mut component = Vec::new();
                while let Some(w) = stack.pop() {
                    on_stack[w as usize] = false;
                    component.push(w);
                    if w == v {
                        break;
                    }
                }
                components.push(component);
            }
        }
    }
    components
}

#[cfg(test)]
mod tests {
    use super::strongly_connected_components as scc;

    #[test]
    fn components_in_reverse_topological_order() {
        // 0 -> 1 <-> 2 -> 3, 3 -> 3, 4 alone.
        let succ = vec![vec![1], vec![2], vec![1, 3], vec![3], vec![]];
        let comps = scc(&succ);
        let mut sorted: Vec<Vec<u32>> = comps
            .iter()
            .map(|c| {
                let mut c = c.clone();
                c.sort();
                c
            })
            .collect();
        sorted.sort();
        assert_eq!(sorted, vec![vec![0], vec![1, 2], vec![3], vec![4]]);
        let at = |v: u32| comps.iter().position(|c| c.contains(&v)).unwrap();
        for (v, s) in succ.iter().enumerate() {
            for &w in s {
                assert!(at(w) <= at(v as u32), "edge {v}->{w} goes forward");
            }
        }
    }

    #[test]
    fn a_long_cycle_does_not_recurse() {
        let n = 200_000u32;
        let succ: Vec<Vec<u32>> = (0..n).map(|i| vec![(i + 1) % n]).collect();
        let comps = scc(&succ);
        assert_eq!(comps.len(), 1);
        assert_eq!(comps[0].len(), n as usize);
    }
}
