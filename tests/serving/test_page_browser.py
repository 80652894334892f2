"""The page at / in headless Chromium (Debian's `chromium` and `chromium-driver`), driven by Selenium:
type into it and read what it shows, against a real server.

`make test` installs the two packages (`make browser`); the tests skip, saying so, where they are missing.
"""
import shutil
from typing import Any, Callable, List, Tuple

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from lmlab.predictors.predictor import Predictor

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and DRIVER), reason="headless Chromium is not installed (`make browser` installs Debian's "
                                      "chromium and chromium-driver; it could not here)")
WAIT_S = 30


@pytest.fixture(scope="module")
def browser() -> Any:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1000,1000"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(str(DRIVER)), options=options)
    yield driver
    driver.quit()


def until(browser: Any, condition: Callable[[], Any], what: str) -> Any:
    """The first truthy value of `condition()`, polled; fails naming `what` after WAIT_S."""
    return WebDriverWait(browser, WAIT_S, poll_frequency=0.05).until(lambda _: condition(), f"never: {what}")


def texts(browser: Any, selector: str) -> List[str]:
    """The text of every element matching `selector`, read in one step (the page may redraw between steps)."""
    return browser.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0]), element => element.innerText)", selector)


def shown_suggestions(browser: Any) -> List[Tuple[str, str]]:
    """(token, probability) of each listed suggestion."""
    tokens = texts(browser, "#suggestions li.suggestion .token")
    probabilities = texts(browser, "#suggestions li.suggestion .probability")
    return list(zip(tokens, probabilities, strict=False))  # lengths differ only mid-redraw: then no match


def expected_suggestions(predictor: Predictor, context: str, partial: str = "") -> List[Tuple[str, str]]:
    """What the page should list: the predictor's next words after `context` starting with `partial`, top 8."""
    candidates = predictor.predict_json({"sentence": context, "top_k": 200})["next_tokens"]
    return [(c["token"], f"{100 * c['probability']:.1f}%") for c in candidates if c["token"].startswith(partial)][:8]


def open_page(browser: Any, client: Any, mode: str) -> Any:
    browser.get(f"{client.base_url}/")
    until(browser, lambda: browser.find_element(By.ID, "model").text.startswith(mode), f"the page shows {mode}")
    return browser.find_element(By.ID, "prompt")


def test_typing_shows_next_word_suggestions_tab_accepts_and_a_continuation_streams(serve, browser, archive):
    predictor = Predictor.from_archive(archive, "language_model")
    with serve("language_model") as client:
        prompt = open_page(browser, client, "language_model")
        prompt.send_keys("the cat sat on the ")
        expected = expected_suggestions(predictor, "the cat sat on the ")
        assert len(expected) == 8
        until(browser, lambda: shown_suggestions(browser) == expected, f"suggestions {expected}")

        prompt.send_keys("c")  # half a word: the suggestions complete it
        completing = expected_suggestions(predictor, "the cat sat on the ", "c")
        assert completing
        until(browser, lambda: shown_suggestions(browser) == completing, f"completions {completing}")
        prompt.send_keys(Keys.TAB)
        accepted = f"the cat sat on the {completing[0][0]} "
        until(browser, lambda: prompt.get_attribute("value") == accepted, f"Tab accepts {completing[0][0]}")
        next_words = expected_suggestions(predictor, accepted)
        until(browser, lambda: shown_suggestions(browser) == next_words, "suggestions after the accepted word")

        browser.find_element(By.ID, "greedy").click()
        max_tokens = browser.find_element(By.ID, "max-tokens")
        max_tokens.clear()
        max_tokens.send_keys("5")
        browser.find_element(By.ID, "continue").click()
        continuation = browser.find_element(By.ID, "continuation")
        until(browser, lambda: continuation.get_attribute("data-done") == "true", "the continuation finishes")
        greedy = client.post("/generate", json={"sentence": accepted.strip(), "max_tokens": 5, "greedy": True})
        streamed = [token.strip() for token in texts(browser, "#continuation .generated")]
        assert streamed == greedy.json()["generated"]["tokens"]
        assert continuation.text.startswith("the cat sat on the")  # the prompt's last words, then the tokens


def test_a_bad_input_shows_the_servers_message(serve, browser):
    with serve("language_model", max_body_bytes=60) as client:
        prompt = open_page(browser, client, "language_model")
        prompt.send_keys("the cat sat on the mat and the dog sat on the rug ")
        status = browser.find_element(By.ID, "status")
        until(browser, lambda: "body larger than 60 bytes" in status.text, "the 413 message")
        assert "error" in status.get_attribute("class") and not shown_suggestions(browser)


def test_a_tagger_shows_its_tagged_spans(serve, browser):
    with serve("serving_test_tagger") as client:
        prompt = open_page(browser, client, "serving_test_tagger")
        assert not browser.find_element(By.ID, "suggestions-card").is_displayed()
        prompt.send_keys("yesterday Sam Smith met Ann .")

        until(browser, lambda: texts(browser, "#spans li") == ["NAME Sam Smith", "NAME Ann"], "the NAME spans")
        assert [token.split("\n") for token in texts(browser, "#tagged .tagged-token")] == [
            ["yesterday", "O"], ["Sam", "B-NAME"], ["Smith", "I-NAME"], ["met", "O"], ["Ann", "B-NAME"], [".", "O"]]
