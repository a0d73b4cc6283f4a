"""The one authentication backend, for every door (the web sign-in, the admin login,
POST /api/auth/token/): django-allauth's (usernames and emails), with two changes.

Each account's password is checked at most once per sign-in. The sign-in form passes what
was typed as both `email` and `username` (allauth tries a username that looks like an
address too), and allauth's backend checked the password of the account with that address
twice, where an unknown address costs one stand-in hash: three hashes against two told
anyone with a stopwatch which addresses have accounts.

Each check takes one attempt from the account's budget ("auth_account"), whatever door or
client it comes from; past it, the account refuses every password until the budget
refills, and the stand-in hash still runs, so the refusal takes as long as a check."""

from allauth.account.auth_backends import AuthenticationBackend as AllauthAuthenticationBackend

from core.throttling import account_password_attempt_take


class AuthenticationBackend(AllauthAuthenticationBackend):
    def authenticate(self, request, **credentials):
        self._checked_user_ids = set()
        return super().authenticate(request, **credentials)

    def _check_password(self, user, password):
        if user is None:
            return None
        if user.pk in self._checked_user_ids:
            return None  # this password already failed for this account (a success returns at once)
        self._checked_user_ids.add(user.pk)
        if account_password_attempt_take(user_id=user.pk) > 0:
            return None  # allauth's authenticate runs the stand-in hash: no password was checked
        return super()._check_password(user, password)
