//! One thread at a time in the driver, on backends that need it.
//!
//! wgpu's OpenGL back end funnels every call through one driver context lock and panics ("Could not lock
//! adapter context") when a thread waits more than 6 s for it. On llvmpipe a submit or a wait holds that lock
//! while the kernels run, so a second thread sharing the device (the tests share one per binary) could wait
//! longer and panic. On such a backend `Gpu` holds this re-entrant lock around each of its own calls into wgpu,
//! so other threads wait here, without a time limit; elsewhere it costs nothing.
use std::sync::{Condvar, Mutex, PoisonError};
use std::thread::{self, ThreadId};

/// A re-entrant lock that is switched on per device.
pub(crate) struct Serial {
    on: bool,
    /// The owning thread and how many times it entered.
    owner: Mutex<(Option<ThreadId>, usize)>,
    free: Condvar,
}

/// Held while a thread is inside the driver; released when dropped.
pub(crate) struct SerialGuard<'a>(Option<&'a Serial>);

impl Serial {
    /// A lock that serialises only when `on`.
    pub(crate) fn new(on: bool) -> Serial {
        Serial { on, owner: Mutex::new((None, 0)), free: Condvar::new() }
    }

    /// Waits until no other thread is inside the driver (returns at once when off, or when this thread is).
    pub(crate) fn enter(&self) -> SerialGuard<'_> {
        if !self.on {
            return SerialGuard(None);
        }
        let me = thread::current().id();
        let mut st = self.owner.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            match st.0 {
                None => {
                    *st = (Some(me), 1);
                    break;
                }
                Some(t) if t == me => {
                    st.1 += 1;
                    break;
                }
                Some(_) => st = self.free.wait(st).unwrap_or_else(PoisonError::into_inner),
            }
        }
        SerialGuard(Some(self))
    }
}

impl Drop for SerialGuard<'_> {
    fn drop(&mut self) {
        if let Some(s) = self.0 {
            let mut st = s.owner.lock().unwrap_or_else(PoisonError::into_inner);
            st.1 -= 1;
            if st.1 == 0 {
                st.0 = None;
                s.free.notify_one();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn one_thread_at_a_time_and_re_entrant() {
        let s = Arc::new(Serial::new(true));
        let inside = Arc::new(AtomicUsize::new(0));
        let outer = s.enter();
        let inner = s.enter(); // the same thread enters again without deadlock
        let (s2, inside2) = (s.clone(), inside.clone());
        let other = thread::spawn(move || {
            let _g = s2.enter();
            inside2.fetch_add(1, Ordering::SeqCst);
        });
        thread::sleep(Duration::from_millis(50));
        drop(inner);
        thread::sleep(Duration::from_millis(50));
        assert_eq!(inside.load(Ordering::SeqCst), 0, "another thread entered while this one was still inside");
        drop(outer);
        other.join().expect("the other thread");
        assert_eq!(inside.load(Ordering::SeqCst), 1, "the other thread entered once this one left");
    }

    #[test]
    fn off_never_blocks() {
        let s = Arc::new(Serial::new(false));
        let _g = s.enter();
        let s2 = s.clone();
        thread::spawn(move || drop(s2.enter())).join().expect("entered while another thread held it");
    }
}
