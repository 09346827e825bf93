"""Who is signed in: sessions, the request dependencies, CSRF and the sign-in throttle."""
