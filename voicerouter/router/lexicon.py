"""The words the router's features look for, and how a caller's transcript is normalised into tokens.

Plain data and one pure function: nothing here scores, learns or depends on which agent is on the call.
"""

from __future__ import annotations

from voicerouter.lexicon import numbers
from voicerouter.lexicon.tokens import NORMALIZED


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# The trained weights hold features of these exact sets. "first" is left out of the ordinals: "first name",
# "first time" and "first of all" are not numbers far more often than they are.
NUMBER_WORDS = numbers.NUMBER_WORDS
ORDINALS = frozenset(numbers.DAY_ORDINALS) - {"first"}
DATE_WORDS = _words(
    "monday tuesday wednesday thursday friday saturday sunday mondays tuesdays wednesdays thursdays fridays "
    "saturdays sundays january february march april may june july august september october november december "
    "today tomorrow tonight yesterday morning mornings afternoon afternoons evening evenings noon midday "
    "weekend week o'clock pm am half quarter past"
)
NAME_WORDS = _words(
    "john mary james linda david sarah michael maria robert jennifer william elizabeth richard susan joseph "
    "jessica thomas karen daniel nancy matthew lisa anthony emily mark paul emma steven olivia andrew "
    "sophia kevin chloe brian grace george hannah edward laura jose ana luis sofia carlos lucia juan ahmed "
    "fatima mohammed aisha omar priya raj arjun deepa wei li chen ming yuki hiro kenji olga ivan tomasz "
    "piotr kasia ines pierre claire hans greta tyrone keisha chidi amara smith johnson brown jones miller "
    "davis wilson taylor anderson thomas moore martin jackson white harris clark lewis "
    "patel garcia nguyen lee kim singh kaur shah khan ali lopez gonzalez rodriguez hernandez martinez silva "
    "rossi novak kowalski fischer muller dubois okafor murphy walsh hughes o'connor o'neil baker "
    "sharma nakamura jensen reyes"
)
FILLERS = _words("um uh er erm hmm hm mm ah oh like")
FUNCTION_WORDS = _words(
    "i me my mine you your we our us it its this that these those there here the a an and or of to in on at "
    "for with from by about is are was were be been am do does did have has had can could will would should "
    "shall may might must not no so just also very really then than what when where who how which why he she "
    "they them his her their him get got go going want need please some any one all 's 'm 're 've 'll 'd"
)
# Verbs and nouns that name one request; a turn that carries two of them is usually a multi-step one.
INTENT_WORDS = _words(
    "book booking booked cancel cancellation reschedule rebook move moved reset unlock check status open "
    "close closed report log order register renew confirm change switch add merge link combine replace send "
    "swap appointment ticket password access"
)

# Markers of turns that need several steps, a comparison, a diagnosis or judgement (multi-word ones too).
MARKERS: dict[str, tuple[str, ...]] = {
    "conditional": ("if", "unless", "otherwise", "whether", "in case", "as long as", "what if"),
    "contrast": ("but", "though", "although", "except", "only", "even", "instead", "rather", "whereas"),
    "multi": (
        "both",
        "all",
        "each",
        "every",
        "either",
        "neither",
        "and then",
        "as well",
        "one after the other",
    ),
    "causal": (
        "why",
        "how come",
        "because",
        "since",
        "keeps",
        "keep",
        "still",
        "whenever",
        "every time",
        "what could",
        "cause",
        "happening",
        "again and again",
        "over and over",
    ),
    "compare": (
        "compare",
        "difference",
        "better",
        "best",
        "cheaper",
        "quicker",
        "faster",
        "sooner",
        "worth",
        "recommend",
        "should i",
        "which is",
        "which one",
        "which would",
        "or should",
        "options",
        "instead",
    ),
    "constraint": (
        "whichever",
        "earliest",
        "latest",
        "as late as",
        "as early as",
        "at the latest",
        "no later than",
        "not before",
        "not after",
        "at least",
        "by then",
        "in time",
        "in the meantime",
        "deadline",
        "cutoff",
        "same day",
        "same time",
        "ideally",
        "preferably",
        "back to back",
        "together",
    ),
    "records": (
        "appointments",
        "tickets",
        "passwords",
        "accounts",
        "visits",
        "two of",
        "both of",
        "the other one",
        "and also",
        "also",
        "plus",
        "as well as",
        "another thing",
    ),
    "problem": (
        "stopped",
        "broken",
        "broke",
        "not working",
        "will not",
        "does not",
        "did not",
        "error",
        "crash",
        "crashes",
        "freezes",
        "drops",
        "dropping",
        "disconnects",
        "worse",
        "weird",
        "strange",
        "ever since",
        "came back",
        "same thing",
    ),
    "complaint": (
        "charged",
        "fee",
        "bill",
        "unhappy",
        "unacceptable",
        "complaint",
        "manager",
        "nobody",
        "never",
        "third time",
        "not make sense",
        "not happy",
        "not what",
        "not fair",
        "otherwise",
    ),
}
SOCIAL: dict[str, tuple[str, ...]] = {
    "greeting": ("hi", "hello", "hey", "hiya", "good morning", "good afternoon", "good evening", "morning"),
    "thanks": ("thanks", "thank you", "cheers", "ta", "appreciate", "grateful", "kind of you"),
    "bye": ("bye", "goodbye", "see you", "see ya", "take care", "have a good", "have a nice", "speak soon"),
    "ack": (
        "okay",
        "ok",
        "alright",
        "right",
        "sure",
        "yes",
        "yeah",
        "yep",
        "yup",
        "no",
        "nope",
        "nah",
        "mhm",
        "uh huh",
        "correct",
        "exactly",
        "absolutely",
        "definitely",
        "great",
        "perfect",
        "cool",
        "lovely",
        "brilliant",
        "awesome",
        "fine",
        "sweet",
        "nice",
        "wonderful",
        "fab",
        "got it",
        "makes sense",
        "no worries",
        "sounds good",
        "of course",
    ),
    "hold": (
        "hold on",
        "hang on",
        "one sec",
        "a sec",
        "one second",
        "a second",
        "a moment",
        "a minute",
        "bear with",
        "wait",
        "just a",
    ),
    "repeat": (
        "again",
        "repeat",
        "pardon",
        "not catch",
        "say that",
        "what was that",
        "speak up",
        "slow down",
        "breaking up",
        "still there",
        "you there",
        "hear me",
    ),
    "small_talk": (
        "how are you",
        "weather",
        "sorry",
        "never mind",
        "not worry",
        "you 're welcome",
        "same to you",
        "you too",
        "real person",
        "robot",
        "haha",
        "that 's all",
    ),
}
# Discourse openers ("okay and so", "oh sorry") that say nothing about the request: questions and first words
# are read after them, so "okay, and where are you" is heard as the where-question it is.
LEAD_WORDS = FILLERS | _words(
    "okay ok alright right so and well sorry then actually wait anyway now but yes yeah yep no nope great "
    "perfect fine cool good lovely hi hello hey hiya thanks also just hmm"
)
# Phrases that open a request or a question; one that comes late in a long turn follows a story or a context.
REQUEST_OPENERS = frozenset(
    (
        "can you",
        "could you",
        "can i",
        "could i",
        "can we",
        "could we",
        "can he",
        "can she",
        "would you",
        "will you",
        "will it",
        "will my",
        "do you",
        "do i",
        "do we",
        "should i",
        "should we",
        "should he",
        "should she",
        "is there",
        "is it",
        "is that",
        "what do",
        "what should",
        "what can",
        "what happens",
        "how do",
        "how can",
        "who do",
        "who else",
        "am i",
    )
)
SUBJECT_PRONOUNS = _words("i he she we they")
WH_WORDS = _words("what when where which who whose how")
AUX_WORDS = _words("is are can could do does did will would should have has was were may am")
# Words that point back at something already said: a short question about "that" asks for judgement on it.
ANAPHORA = _words("that it this those them these")


def normalize_tokens(text: str) -> list[str]:
    """Lower-case word tokens as an ASR transcript would give them, contractions split, digit runs `<num>`."""
    return NORMALIZED.tokens(text)
