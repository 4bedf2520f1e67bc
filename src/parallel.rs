//! Work spread over every core.

/// One thread per core, at most one per item, at least one.
fn threads_for(items: usize) -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, items.max(1))
}

/// `f` of every item on every core (scoped threads taking the next item in turn); the results
/// in the items' order, so what follows is deterministic.
pub(crate) fn in_parallel<T: Send, R: Send>(items: Vec<T>, f: impl Fn(T) -> R + Sync) -> Vec<R> {
    let threads = threads_for(items.len());
    let queue = std::sync::Mutex::new(items.into_iter().enumerate());
    let mut results: Vec<(usize, R)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let next = queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner).next();
                        let Some((i, item)) = next else { break };
                        mine.push((i, f(item)));
                    }
                    mine
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
            .collect()
    });
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

/// `f` of every item on every core, each result handed to `consume` on the calling thread as
/// soon as it is made, in no particular order: at most two results per core wait, so memory
/// does not grow with the items. An error of `consume` stops the workers at their next item
/// and is returned.
pub(crate) fn stream_in_parallel<T: Sync, R: Send, E>(
    items: &[T],
    f: impl Fn(&T) -> R + Sync,
    mut consume: impl FnMut(R) -> Result<(), E>,
) -> Result<(), E> {
    let threads = threads_for(items.len());
    let next = std::sync::atomic::AtomicUsize::new(0);
    let (results, made) = std::sync::mpsc::sync_channel::<R>(threads * 2);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let (results, next, f) = (results.clone(), &next, &f);
            scope.spawn(move || {
                while let Some(item) = items.get(next.fetch_add(1, std::sync::atomic::Ordering::Relaxed)) {
                    // The receiver is gone once `consume` failed: nothing more is wanted.
                    if results.send(f(item)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(results);
        // Owned here, so an early return drops it and unblocks the workers.
        for result in made {
            consume(result)?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn results_come_in_the_order_of_the_items() {
        let items: Vec<u64> = (0..100).collect();
        assert_eq!(
            super::in_parallel(items.clone(), |i| i * i),
            items.iter().map(|i| i * i).collect::<Vec<_>>()
        );
        assert!(super::in_parallel(Vec::<u8>::new(), |i| i).is_empty());
    }

    #[test]
    fn streamed_results_are_each_consumed_once_and_an_error_stops_the_work() {
        let items: Vec<u64> = (0..1000).collect();
        let mut seen = Vec::new();
        super::stream_in_parallel(
            &items,
            |i| i * 2,
            |r| {
                seen.push(r);
                Ok::<_, ()>(())
            },
        )
        .unwrap();
        seen.sort_unstable();
        assert_eq!(seen, items.iter().map(|i| i * 2).collect::<Vec<_>>());

        let made = std::sync::atomic::AtomicUsize::new(0);
        let mut consumed = 0;
        let stopped = super::stream_in_parallel(
            &items,
            |i| {
                made.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                *i
            },
            |_| {
                consumed += 1;
                if consumed == 10 { Err("stop") } else { Ok(()) }
            },
        );
        assert_eq!(stopped, Err("stop"));
        assert_eq!(consumed, 10);
        // Each worker may finish the item it holds and have a few waiting, no more.
        assert!(made.load(std::sync::atomic::Ordering::Relaxed) < 100, "{made:?}");
        assert!(super::stream_in_parallel(&[] as &[u8], |i| *i, |_| Err(())).is_ok());
    }
}
