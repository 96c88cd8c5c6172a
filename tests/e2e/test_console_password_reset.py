"""A customer who forgot the password resets it from the sign-in screen: a code to the account's verified
e-mail (the user pool's AccountRecoverySetting), then the code and a new password, then signs in.

moto's Cognito puts the code it "mails" in a response header (x-moto-forgot-password-confirmation-code)
the page cannot read across origins, so the test asks the pool for a code as the page's "Send the code
again" does, and reads it there; moto checks only codes of its own form and takes any other."""

from __future__ import annotations

import pytest

from tests.support.browser import PHONE, Browser
from tests.support.console import PASSWORD, CognitoPool, ConsoleUser

pytestmark = pytest.mark.timeout(300)
NEW_PASSWORD = "battery staple 43"


def set_value(browser: Browser, selector: str, value: str) -> None:
    """A value the page's maxlength would cut (moto's codes are 29 characters; Cognito's are 6 digits)."""
    browser.driver.execute_script("document.querySelector(arguments[0]).value = arguments[1]", selector, value)


def test_a_customer_who_forgot_the_password_resets_it_and_signs_in(
    browser: Browser, cognito: CognitoPool, customer: ConsoleUser
) -> None:
    # Given a signed-out customer on the sign-in screen, who typed the e-mail
    browser.sign_out()
    browser.fill("#auth-email", customer.email)

    # When the customer asks for a code
    browser.css("#to-forgot").click()
    browser.page("Reset your password")
    assert browser.css("#auth-email").get_attribute("value") == customer.email
    browser.shot("password-forgot")
    browser.css("#auth-submit").click()

    # Then the page asks for the code and a new password
    browser.page("Choose a new password")
    assert customer.email in browser.css("main form").text
    browser.shot("password-reset")

    # A wrong code is refused on the page; the code the pool sent changes the password
    sent = cognito.call("ForgotPassword", {"Username": customer.email})
    assert sent.status_code == 200, sent.text
    code = sent.headers["x-moto-forgot-password-confirmation-code"]
    set_value(browser, "#auth-code", "moto-confirmation-code:000000")
    browser.fill("#auth-password", NEW_PASSWORD)
    browser.css("#auth-submit").click()
    browser.wait(lambda _: browser.css("main .form-error").text)
    browser.page("Choose a new password")
    set_value(browser, "#auth-code", code)
    browser.css("#auth-submit").click()

    # And the sign-in screen says so, with the e-mail filled in; the old password no longer works
    browser.page("Sign in")
    assert browser.css(".notice").text == "Your password is changed. Sign in with it."
    assert browser.css("#auth-email").get_attribute("value") == customer.email
    old = cognito.call(
        "InitiateAuth",
        {"AuthFlow": "USER_PASSWORD_AUTH", "AuthParameters": {"USERNAME": customer.email, "PASSWORD": PASSWORD}},
    )
    assert old.status_code == 400, old.text
    browser.sign_in(customer.email, NEW_PASSWORD)
    browser.page("Overview")
    assert all("status of 400" in error for error in browser.errors())  # only the wrong code's refusal


def test_the_way_to_reset_a_password_is_offered_in_chinese_too(browser: Browser, customer: ConsoleUser) -> None:
    browser.sign_out()
    browser.resize(PHONE)
    browser.css("#language").click()
    browser.page("登录")
    browser.shot("sign-in-phone-zh")
    browser.css("#to-forgot").click()
    browser.page("重置密码")
    assert browser.css("#auth-submit").text == "发送验证码"
    browser.css("#to-sign-in").click()
    browser.page("登录")
