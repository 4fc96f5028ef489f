//! A tracked queue's receiving iterators, one definition for both queues
//! (`lockgraph::mpsc` and `lockgraph::channel`): [`receiver_iterators!`]
//! expands them beside a `Receiver<T>` whose `recv_at` and `try_recv_at`
//! take the site each receive is reported as asked at.

/// `Iter`, `TryIter` and `IntoIter` of the module's `Receiver<T>`, and its
/// two `IntoIterator`s: each receive is asked where the iterator was made
/// (a `for` loop's line, the caller of `iter`), not where `next` is called
/// (an adapter of the standard library: `count`, `collect`).
macro_rules! receiver_iterators {
    () => {
        /// [`Receiver::iter`].
        #[derive(Debug)]
        pub struct Iter<'a, T> {
            rx: &'a Receiver<T>,
            site: &'static ::std::panic::Location<'static>,
        }

        impl<T> Iterator for Iter<'_, T> {
            type Item = T;
            fn next(&mut self) -> Option<T> {
                self.rx.recv_at(self.site).ok()
            }
        }

        /// [`Receiver::try_iter`].
        #[derive(Debug)]
        pub struct TryIter<'a, T> {
            rx: &'a Receiver<T>,
            site: &'static ::std::panic::Location<'static>,
        }

        impl<T> Iterator for TryIter<'_, T> {
            type Item = T;
            fn next(&mut self) -> Option<T> {
                self.rx.try_recv_at(self.site).ok()
            }
        }

        /// [`Receiver`]'s owning iterator (each receive asked where it was made:
        /// a `for` loop's line).
        #[derive(Debug)]
        pub struct IntoIter<T> {
            rx: Receiver<T>,
            site: &'static ::std::panic::Location<'static>,
        }

        impl<T> Iterator for IntoIter<T> {
            type Item = T;
            fn next(&mut self) -> Option<T> {
                self.rx.recv_at(self.site).ok()
            }
        }

        impl<T> IntoIterator for Receiver<T> {
            type Item = T;
            type IntoIter = IntoIter<T>;
            #[track_caller]
            fn into_iter(self) -> IntoIter<T> {
                IntoIter {
                    rx: self,
                    site: ::std::panic::Location::caller(),
                }
            }
        }

        impl<'a, T> IntoIterator for &'a Receiver<T> {
            type Item = T;
            type IntoIter = Iter<'a, T>;
            #[track_caller]
            fn into_iter(self) -> Iter<'a, T> {
                self.iter()
            }
        }

        impl<T> Receiver<T> {
            /// The items, blocking for each, until every sender is gone. Each
            /// receive is reported as asked where `iter` was called (the caller of
            /// `next` may be an adapter in the standard library: `count`, `collect`).
            #[track_caller]
            pub fn iter(&self) -> Iter<'_, T> {
                Iter {
                    rx: self,
                    site: ::std::panic::Location::caller(),
                }
            }

            /// The items there now, without blocking (each receive asked where
            /// `try_iter` was called).
            #[track_caller]
            pub fn try_iter(&self) -> TryIter<'_, T> {
                TryIter {
                    rx: self,
                    site: ::std::panic::Location::caller(),
                }
            }
        }
    };
}

pub(crate) use receiver_iterators;
