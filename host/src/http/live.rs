//! Live HTTP (reqwest + rustls).
