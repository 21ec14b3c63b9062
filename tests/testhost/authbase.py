class AuthError(Exception): pass
