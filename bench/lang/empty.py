# The empty program: measures interpreter start-up.
