"""Caller utterances for training the offline agent's request model, generated from hand-written templates.

Written from the agents' descriptions, their tool schemas and the bundled data (tools/data/*.json), as
callers speak: fillers, greetings, a name said before or after the request, hedges, politeness. Each
utterance is labelled with the request it starts, or `none` when it starts none (an answer to a question:
a name, a date, an ID, a yes, a thanks, a follow-up such as "the second one"). Deterministic for a seed.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path

from voicerouter.lexicon.numbers import digit_words, number_words, ordinal_words

DATA = Path(__file__).resolve().parents[1] / "tools" / "data"
NONE = "none"

# names beyond the bundled records, so that no request is learnt from who asks
EXTRA_FIRST = (
    "james linda ahmed sofia luca yara ben tom ana nora felix ivan zara omar lena raj mary paul "
    "chen li kim diana hugo rosa pablo irene karl jade dev noor mateo aiko sam alex"
).split()
EXTRA_LAST = (
    "taylor morgan park lee rivera novak singh brown white young hill king wood cole wells fox "
    "bishop carter mills ward chase frost lane west banks nash price reid ross dean rose"
).split()

OPENERS = [
    "",
    "",
    "",
    "um ",
    "uh ",
    "hi ",
    "hello ",
    "hey ",
    "hi there, ",
    "yeah hi, ",
    "good morning, ",
    "good afternoon, ",
    "so ",
    "well ",
    "okay so ",
    "oh hi, ",
    "hello yes, ",
    "hiya, ",
    "morning, ",
    "hi, um, ",
    "yes hello, ",
    "right, ",
    "alright so ",
    "sorry, ",
]
CLOSERS = [
    "",
    "",
    "",
    " please",
    " thanks",
    ", thank you",
    " if you can",
    " if possible",
    " today",
    ", please",
    " for me",
    " real quick",
    ", that'd be great",
    " asap",
    " thank you so much",
]
INTROS = [
    "this is {name}, ",
    "my name's {name}, ",
    "my name is {name} and ",
    "it's {name}, ",
    "{name} here, ",
    "{name} calling, ",
    "hi it's {name}, ",
    "yeah this is {name}, ",
    "i'm {name} and ",
    "it's {name} calling, ",
    "{name}, ",
    "this is {name} speaking, ",
]
OUTROS = [
    ", my name is {name}",
    ", it's {name}",
    ", this is {name}",
    ", i'm {name}",
    ", the name's {name}",
    " for {name}",
    ", {name}",
    " and my name is {name}",
]

ID_INTROS = [
    "my employee id is {eid} and ",
    "{name}, {eid}, ",
    "it's {eid}, ",
    "my id is {eid}, ",
    "this is {name}, id {eid}, ",
]

WEEKDAYS = "monday tuesday wednesday thursday friday saturday".split()
MONTHS = "january february march april may june july august september october november december".split()


def _load(name: str) -> dict:
    with (DATA / f"{name}.json").open(encoding="utf-8") as handle:
        return json.load(handle)


class Slots:
    """Random slot values drawn from the bundled data and a few lists of words."""

    def __init__(self, rng: random.Random, *, mark_names: bool = False) -> None:
        self.rng = rng
        self.mark_names = mark_names
        clinic, helpdesk = _load("clinic"), _load("helpdesk")
        people = clinic["patients"] + helpdesk["employees"]
        self.first = sorted({p["first_name"].lower() for p in people} | set(EXTRA_FIRST))
        self.last = sorted({p["last_name"].lower() for p in people} | set(EXTRA_LAST))
        self.services = [a for s in helpdesk["services"] for a in [s["id"].replace("_", " "), *s["aliases"]]]
        self.departments = [d.lower() for d in helpdesk["departments"]]
        self.reasons = sorted({a["reason"].replace("-", " ") for a in clinic["appointments"]})

    def pick(self, options: list[str] | tuple[str, ...]) -> str:
        return options[self.rng.randrange(len(options))]

    def marked(self, name: str) -> str:
        """A name as the name tagger's training reads it: [[between brackets]] when names are marked."""
        return f"[[{name}]]" if self.mark_names else name

    def name(self) -> str:
        first, last = self.pick(self.first), self.pick(self.last)
        roll = self.rng.random()
        if roll < 0.1:
            return f"{self.marked(f'{first} {last}')}, {' '.join(last.replace(' ', ''))}"
        if roll < 0.15:
            return self.marked(last)
        return self.marked(f"{first} {last}")

    def date(self) -> str:
        roll = self.rng.random()
        day = self.rng.randint(1, 28)
        if roll < 0.25:
            return self.pick(WEEKDAYS)
        if roll < 0.4:
            return f"next {self.pick(WEEKDAYS)}"
        if roll < 0.5:
            return self.pick(["tomorrow", "today", "this week", "next week", "the day after tomorrow"])
        if roll < 0.65:
            return f"the {ordinal_words(day)}"
        if roll < 0.8:
            return f"{self.pick(WEEKDAYS)} the {ordinal_words(day)}"
        if roll < 0.9:
            return f"{self.pick(MONTHS)} {ordinal_words(day)}"
        return f"the following {self.pick(WEEKDAYS)}"

    def time(self) -> str:
        hour = self.rng.randint(8, 17)
        spoken = number_words(hour if hour <= 12 else hour - 12)
        return self.pick(
            [
                spoken,
                f"{spoken} thirty",
                f"half past {spoken}",
                f"{spoken} o'clock",
                f"{spoken} am" if hour < 12 else f"{spoken} pm",
                "noon",
                f"around {spoken}",
            ]
        )

    def birth(self) -> str:
        year = self.rng.randint(1940, 2015)
        return f"{self.pick(MONTHS)} {ordinal_words(self.rng.randint(1, 28))} {number_words(year)}"

    def ticket(self) -> str:
        digits = str(self.rng.randint(3000, 4999))
        if self.rng.random() < 0.2:
            return f"{number_words(int(digits[:2]))} {number_words(int(digits[2:]))}"
        return digit_words(digits)

    def employee_id(self) -> str:
        return "e " + digit_words(str(self.rng.randint(1000, 1199))).replace(
            "zero", self.pick(["zero", "oh"])
        )

    def provider(self) -> str:
        return self.pick(
            [
                "doctor chen",
                "dr chen",
                "doctor ortiz",
                "dr ortiz",
                "doctor patel",
                "dr patel",
                "the pediatrician",
                "the nurse practitioner",
                "grace okafor",
                "nurse okafor",
                "my doctor",
                "my usual doctor",
                "a doctor",
                "someone",
                "doctor amelia chen",
            ]
        )

    def service(self) -> str:
        return self.pick(self.services)

    def reason(self) -> str:
        """Why a patient comes in, as the bundled appointments say it (a flu shot, a school physical)."""
        return self.pick(self.reasons)

    def who(self) -> str:
        """Who the visit is for, as a caller says it: often someone else than the caller."""
        return self.pick(["she", "he", "my son", "my daughter", "my wife", "my husband", "my mom", "my dad",
                          "my kid", "my little one", "my father", "my mother"])


Template = tuple[str, list[str]]  # (label, phrasings with {slot} holes)


def clinic_templates() -> list[Template]:
    """The receptionist's requests, as callers put them."""
    return [
        (
            "person",
            [
                "can i speak to someone at the front desk",
                "i'd like to talk to a real person",
                "can you put me through to a human being",
                "is there a person i can talk to",
                "transfer me to the receptionist",
                "get me an operator",
                "i want to speak with somebody",
                "can i talk to an actual person",
                "i'd rather speak to a person if that's ok",
                "could you connect me to a staff member",
                "let me talk to a nurse or someone",
                "put me through to the office manager",
                "i need a human",
                "agent",
                "representative please",
                "i don't want a machine, i want a person",
                "is there anybody there i can speak to",
                "talk to someone in the office",
                "i'd like to be transferred",
                "can you transfer me please",
                "front desk please",
                "can i speak with a nurse",
                "i'd like to talk to someone in person",
                "put me through to someone",
                "i need to speak to your manager",
                "can i get a real receptionist",
            ],
        ),
        (
            "reschedule",
            [
                "i need to move my appointment",
                "can i reschedule my visit",
                "i have to change my appointment",
                "could we push my appointment to another day",
                "i need a different time for my appointment",
                "can you move my visit on {date} to {date}",
                "i'd like to reschedule from {date} to {date}",
                "something came up, can i move my appointment",
                "can i bring my appointment forward",
                "i need to change the day of my checkup",
                "is it possible to shift my appointment",
                "can we change it to {date} instead",
                "i want to switch my appointment to {date}",
                "my appointment on {date}, can i do it later",
                "i need to postpone my visit",
                "could i come in on {date} instead of {date}",
                "i need to rebook my appointment for another day",
                "my appointment is on {date} but i'm working, can i move it",
                "i booked for {date} and need to change that",
                "swap my appointment to a later time",
                "move my {date} appointment to {date} at {time}",
                "can i push it back a week",
                "i'd like to change my appointment time to {time}",
                "i can't do {date} anymore, can we pick another day",
                "can i switch to the following week",
                "change my appointment to the afternoon",
                "i'd like to change my appointment please",
                "can we make it a different day",
                "i need another time",
                "my appointment doesn't work anymore, can we find another slot",
                "could you move me to later in the day",
                "i have to push my visit",
                "can you shift it to {date}",
                "is it possible to come {date} instead",
                "i want to move it earlier",
            ],
        ),
        (
            "cancel",
            [
                "i need to cancel my appointment",
                "please cancel my visit on {date}",
                "i won't be able to come in on {date}",
                "i have to cancel",
                "can you cancel my appointment",
                "i'd like to cancel my checkup",
                "i can't make it on {date}, please cancel it",
                "please take me off the schedule for {date}",
                "cancel the appointment for my son",
                "i want to cancel my daughter's appointment",
                "we won't need the appointment anymore",
                "i'm calling to cancel",
                "scratch my appointment on {date}",
                "delete my appointment please",
                "i need to call off my visit",
                "i'm not going to make it tomorrow, cancel it please",
                "i need to call off my son's appointment",
                "please cancel, we can't come",
                "could you remove my appointment",
                "i won't need my visit on {date}",
                "cancel it, something came up",
                "cancel both of my appointments",
                "i want to drop my appointment",
                "i'm sick, i can't come in {date}",
                "go ahead and cancel my {date} appointment",
                "my appointment on {date} isn't needed any more",
                "i won't be coming in on {date}",
                "i'm not going to be able to come {date}",
                "we'll have to skip the visit on {date}",
                "take my appointment off please",
                "my son is sick so i can't bring him in {date}",
                "i won't make my appointment",
            ],
        ),
        (
            "my_appointments",
            [
                "when is my next appointment",
                "do i have an appointment coming up",
                "can you check when my appointment is",
                "what time is my appointment {date}",
                "i forgot when my appointment is",
                "am i booked in for anything",
                "can you confirm my appointment",
                "is my appointment still on for {date}",
                "when am i supposed to come in",
                "do i have something scheduled",
                "what day was my appointment again",
                "could you look up my appointments",
                "i think i have an appointment {date}, can you check",
                "does my mother have an appointment",
                "when is my son's appointment",
                "is there anything booked for me",
                "what appointments do i have",
                "i just want to double check my appointment time",
                "who is my appointment with",
                "when am i due in next",
                "when do i next come in",
                "remind me when i'm coming in",
                "when do i see {provider} next",
                "what day is my checkup",
                "could you tell me my appointment time",
                "i can't remember when i'm booked",
                "is my visit still on",
                "am i still booked for {date}",
                "did i book something for {date}",
                "can you look up when i'm coming in",
                "i lost my appointment card, when is it",
                "what date am i down for",
                "have i got anything coming up",
                "when's my visit",
                "do i have a visit scheduled with {provider}",
                "what time do i need to be there {date}",
            ],
        ),
        (
            "visit_history",
            [
                "why was i charged a no show fee",
                "i got a bill for a missed appointment",
                "there's a fee on my account i don't understand",
                "when was my last visit",
                "i was billed for a visit i didn't miss",
                "can you look at my past visits",
                "i want to dispute a charge",
                "why did you charge me",
                "i have a question about my bill",
                "when did i last see the doctor",
                "i got a late cancellation fee",
                "what was my last appointment",
                "my statement shows a missed visit fee",
                "how long since my last checkup",
                "i was charged even though i came in",
                "can you check my visit history",
                "what did the doctor say last time i came in",
                "when was i last in",
                "what was my last visit for",
                "did i come in for my {reason} last time",
                "when did {who} last come in",
            ],
        ),
        (
            "availability",
            [
                "do you have anything open {date}",
                "what's available {date}",
                "is {provider} free {date}",
                "what's the earliest i can get in",
                "any openings with {provider} {date}",
                "when is the next available appointment",
                "does {provider} have any time {date}",
                "what times do you have {date}",
                "is there anything free {date} in the morning",
                "what's your soonest opening",
                "could you check availability for {date}",
                "when could {provider} see me",
                "are there any slots left {date}",
                "what does {date} look like",
                "anything free {date} afternoon",
                "is {provider} in on {date}",
                "what's open {date} with {provider}",
                "how soon can i be seen",
                "when's the first opening",
                "do you have space {date}",
                "any chance of something {date} after {time}",
                "is there an opening at {time} {date}",
                "what has {provider} got open {date}",
                "what has {provider} got {date}",
                "what times are free with {provider}",
                "when can {provider} fit me in",
            ],
        ),
        (
            "book",
            [
                "i'd like to book an appointment",
                "i need to make an appointment",
                "can i schedule a visit",
                "i want to see a doctor",
                "i'd like to come in {date}",
                "can i get an appointment with {provider}",
                "i need a checkup",
                "can i book a physical",
                "book me in for {date} at {time}",
                "i'd like to see {provider} {date}",
                "my son needs to see the pediatrician",
                "i need to get my daughter seen",
                "i'd like to set up a visit",
                "can i make a booking",
                "i need an appointment for a flu shot",
                "i want to book a video visit",
                "could i book a telehealth appointment",
                "i'd like a video appointment with {provider}",
                "i need to be seen for a rash",
                "i'd like to come in for a check up {date}",
                "can you fit me in {date}",
                "put me down for {date} at {time}",
                "i'm a new patient and need an appointment",
                "can somebody see me {date}",
                "i'd like to be seen",
                "i need to come in about my knee",
                "can i come in and see the nurse",
                "i'd like a slot with {provider}",
                "can you book my son in",
                "i'd like to make an appointment for my daughter {date}",
                "is it possible to see someone today",
                "i need a doctor's appointment",
                "i need a follow up visit",
                "can i get in to see someone about my back",
                "i'd like to schedule my annual physical",
                "could you book me with {provider} on {date}",
                "i need an appointment for my mom",
                "i want an appointment {date} around {time}",
                "can i see someone about my cough",
                "i'd like to get a vaccine appointment",
                "{who} needs a {reason}",
                "{who} needs a {reason} {date}",
                "{who} needs to come in for a {reason}",
                "i need my {reason}",
                "it's for a {reason}",
                "can i get a {reason} {date}",
                "i'd like to bring my son in for his {reason}",
                "she's due for her {reason}",
                "he's due for a {reason}",
                "could we do a video visit {date}",
                "can i do a telehealth visit instead",
                "is a video call with {provider} possible {date}",
                "could someone see my daughter about a {reason}",
                "we'd need a slot for a {reason}",
                "i need my {reason} looked at",
                "i need my {reason} checked",
                "my wife needs her {reason} looked at",
                "my husband needs his {reason} checked",
                "can someone take a look at my {reason}",
            ],
        ),
        (
            "clinic_info",
            [
                "what are your hours",
                "are you open on saturdays",
                "what time do you close {date}",
                "when do you open in the morning",
                "where are you located",
                "what's your address",
                "how do i get to you",
                "is there parking",
                "where can i park",
                "do you take {insurer}",
                "is my {insurer} insurance accepted",
                "what insurance do you accept",
                "are you open {date}",
                "do you do flu shots",
                "do you offer video visits",
                "do you do telehealth",
                "what services do you offer",
                "do you see kids",
                "are you open on the holidays",
                "are you closed on christmas eve",
                "is there a bus that goes near you",
                "is there accessible parking",
                "what time are you open till",
                "how late are you open",
                "do you do blood tests",
                "are you guys open this weekend",
                "which street are you on",
                "do you take medicare",
                "can i pay without insurance",
                "is parking free",
                "do you have a lab",
                "do you do physicals for work",
                "where do i leave my car",
                "can i park on the street",
                "is there somewhere to put the car",
                "do you do video appointments",
                "can i see the doctor over video",
                "what are the opening times",
                "is {insurer} something you take",
                "which insurers do you work with",
                "how do i find you",
                "are you near the bus stop",
                "when are you open",
                "are you open late any day",
                "which bus goes to the clinic",
                "what's the closest stop to you",
                "can you give me directions",
                "what's the nearest cross street",
                "is the clinic easy to find",
                "what floor are you on",
                "do you have a car park",
                "is there a lot i can use",
                "where's the entrance",
                "are you open on sundays",
                "what time do you shut",
                "till what time are you open",
                "are you open over new year",
                "when do you close for lunch",
                "do you take my insurance",
                "is {insurer} in network",
                "what does a visit cost without insurance",
                "do you do vaccinations",
                "can my kids be seen there",
                "do you do travel shots",
                "do you have a pediatrician",
                "do you do lab work on site",
            ],
        ),
    ]


def helpdesk_templates() -> list[Template]:
    """The service desk's requests, as employees put them."""
    return [
        (
            "person",
            [
                "can i speak to a technician",
                "i'd like to talk to a real person",
                "get me a human",
                "can you transfer me to someone",
                "put me through to an engineer",
                "operator please",
                "i want to speak with somebody on the team",
                "is there a person i can talk to",
                "can i talk to a live agent",
                "let me speak to someone in it",
                "i need a human being",
                "transfer me please",
                "i'd rather talk to a person",
                "connect me with the on call tech",
                "i need to speak to your supervisor",
                "i'd just like to talk to one of the technicians",
                "can i talk to someone from it directly",
                "i want a person, not a machine",
                "can a technician call me",
                "put me through to the service desk staff",
                "who do i talk to about {system}",
                "is there someone i can talk to about {system}",
                "i'd like to talk to somebody about {system}",
                "can i get someone on the phone",
            ],
        ),
        (
            "close_ticket",
            [
                "you can close my ticket",
                "please close ticket {ticket}",
                "the issue fixed itself, close it",
                "go ahead and close {ticket}",
                "it's working now so you can close the ticket",
                "i don't need that ticket anymore",
                "close that ticket",
                "please close that one",
                "you can mark ticket {ticket} as resolved",
                "the problem went away, you can close it",
                "cancel my ticket {ticket}",
                "that ticket can be closed",
                "my printer works again, close the ticket",
                "it sorted itself out, please close {ticket}",
                "resolve ticket {ticket} please",
                "we don't need {ticket} open anymore",
                "never mind the ticket, it's fixed",
                "shut that ticket",
                "close out ticket {ticket}",
                "you can go ahead and close that",
            ],
        ),
        (
            "ticket_status",
            [
                "what's the status of ticket {ticket}",
                "any update on my ticket",
                "i'm following up on {ticket}",
                "can you check on ticket {ticket}",
                "i'm calling about ticket {ticket}",
                "is anyone working on my ticket",
                "i opened a ticket last week and haven't heard back",
                "has my ticket been picked up",
                "where are we with ticket {ticket}",
                "is my laptop ticket done yet",
                "who is working on {ticket}",
                "is ticket {ticket} still open",
                "is my monitor still broken, i had a ticket",
                "what happened to my ticket",
                "i put in a request, any news",
                "checking in on {ticket}",
                "can you tell me what's going on with {ticket}",
                "my ticket number is {ticket}",
                "is {ticket} fixed yet",
                "when will my ticket be done",
                "just chasing ticket {ticket}",
                "i'd like an update on the ticket for my keyboard",
                "was my ticket closed",
                "is anybody working on {ticket}",
                "any progress on my ticket",
                "what's happening with my request",
                "has anyone looked at {ticket} yet",
                "status of my request please",
                "i raised {ticket} last week, where is it at",
                "can you tell me if {ticket} is done",
            ],
        ),
        (
            "reset_password",
            [
                "i need to reset my password",
                "i forgot my {system} password",
                "i'm locked out of my account",
                "can you reset my {system} password",
                "my password expired",
                "i can't log into {system}",
                "i need a new password for {system}",
                "my account is locked",
                "i keep getting wrong password",
                "can't sign in to {system}",
                "i need a password reset link",
                "please unlock my account",
                "my {system} login isn't accepting my password",
                "i got locked out after too many tries",
                "reset my {system} login please",
                "i need my password changed",
                "it says my credentials are invalid",
                "my {system} password stopped working",
                "i can't remember my password for {system}",
                "my {system} password doesn't work",
                "i'm locked out of {system}",
                "can i get a reset on my {system} password",
                "it won't take my password",
                "i need to get back into my {system} account",
                "my login for {system} got locked",
            ],
        ),
        (
            "service_status",
            [
                "is {service} down",
                "is there an outage",
                "is {service} working for everyone",
                "is anyone else having trouble with {service}",
                "are there any known issues with {service}",
                "is {service} still broken",
                "is the {service} out right now",
                "what's the status of {service}",
                "is there a problem with {service} today",
                "is it just me or is {service} down",
                "has {service} gone down",
                "is {service} having problems",
                "are you aware of an {service} issue",
                "is {service} back up yet",
                "is the whole {service} down",
                "any outages today",
                "is {service} broken for the whole office",
                "is something wrong with {service} on your end",
                "is that a known issue",
                "is it a known problem or is it just me",
                "is {service} ok right now",
                "what about {service}, is that working",
                "are other people seeing {service} problems",
                "is {service} up",
                "has anyone reported {service} being down",
                "is {service} fixed yet",
                "is the {service} out for everyone",
                "is {service} still down",
                "is {service} still not working",
                "is the {service} problem still going on",
                "is {service} still broken for everyone",
                "{service} is still broken, is it a known thing",
                "is {service} still playing up",
                "is there something going on with {service}",
                "are you guys seeing {service} problems",
                "is {service} down for maintenance",
                "did {service} crash for everyone",
            ],
        ),
        (
            "report_problem",
            [
                "my {device} isn't working",
                "i need to open a ticket",
                "can you put a ticket in for me",
                "my {device} won't turn on",
                "i'd like to report a problem with my {device}",
                "{device} keeps crashing",
                "i have an issue with my {device}",
                "the {device} is broken",
                "can you log a ticket for my {device}",
                "i need someone to look at my {device}",
                "my {device} stopped working this morning",
                "please raise a ticket, my {device} is dead",
                "i can't connect to the {service}",
                "{service} keeps dropping",
                "{device} is really slow",
                "i need admin rights to install something",
                "i need access to the shared drive",
                "put a ticket in please",
                "my screen is blank",
                "i have no sound in teams",
                "the printer keeps jamming",
                "my {device} is freezing all the time",
                "can you file a ticket",
                "i need a new {device}",
                "my {device} got damaged",
                "i need a ticket for a broken {device}",
                "my headset is not picking up my voice",
                "outlook won't open",
                "my {device} battery dies fast",
                "i need software installed",
                "i'd like to request access to a folder",
                "i need an account set up for a new hire",
                "my second monitor isn't detected",
                "can you open a new ticket",
                "let's open a new ticket then",
                "just open a fresh ticket for it",
                "i'd like a new ticket for this",
                "log it as a new ticket please",
                "make a ticket for that",
                "can you raise one for me",
                "i want to report that my {device} is acting up",
                "my {device} has been acting weird since {date}",
                "the {device} makes a clicking noise",
                "{service} won't let me in",
                "i can't share my screen",
                "my files won't sync",
                "can you log that for me",
                "my {device} is making a weird noise",
                "my {device} cracked",
                "the {device} doesn't charge",
                "i spilled coffee on my {device}",
                "my {device} won't connect to the dock",
                "my screen flickers",
            ],
        ),
    ]


STORIES = {
    "clinic": [
        "my son has had a fever since last night",
        "i've had this cough for about a week",
        "i just moved to the area",
        "i'm calling for my mom, she doesn't hear very well",
        "my insurance changed this month",
        "i work nights so mornings are hard",
        "i have a trip coming up",
        "my back has been killing me",
        "my daughter needs a school form signed",
        "i'm not feeling great",
        "the last time i came in the wait was long",
        "i'm a bit confused about something",
        "my doctor told me to follow up in two weeks",
        "i got a letter from you guys",
        "i was there last month",
        "my husband usually handles this",
        "work changed my schedule",
        "i'm on my lunch break",
        "my kid is home sick from school",
        "i had blood work done recently",
    ],
    "helpdesk": [
        "i work from home on fridays",
        "we have a big deadline today",
        "i already restarted it twice",
        "it started after the update yesterday",
        "my manager told me to call you",
        "i'm down in the warehouse",
        "i'm new here",
        "i tried unplugging everything",
        "it was fine this morning",
        "a colleague had the same thing last week",
        "i've got a client demo in an hour",
        "i'm on the third floor",
        "this is the second time this month",
        "i'm calling from my mobile",
        "nobody has gotten back to me",
        "i'm in sales",
        "i'm travelling this week",
        "it happens every few minutes",
        "i cleared the cache already",
        "i'm covering for someone",
    ],
}
CONNECTORS = [", so ", ". so ", ", and ", ". anyway, ", ", and now ", " and ", ". ", ", um, ", ", but "]

DEVICES = [
    "laptop",
    "monitor",
    "keyboard",
    "mouse",
    "printer",
    "headset",
    "docking station",
    "computer",
    "screen",
    "desk phone",
    "charger",
    "webcam",
    "label printer",
    "second monitor",
]
SYSTEMS = [
    "email",
    "outlook",
    "vpn",
    "sso",
    "single sign on",
    "okta",
    "payroll",
    "laptop",
    "windows",
    "order system",
    "erp",
    "computer",
]
INSURERS = ["aetna", "blue cross", "kaiser", "humana", "tricare", "medicaid", "cigna", "united"]


def answers(agent: str, s: Slots) -> list[Callable[[], str]]:
    """Utterances that start no request: answers to the agent's questions and social turns."""
    common: list[Callable[[], str]] = [
        lambda: s.name(),
        lambda: f"{s.pick(['yes ', 'yeah ', 'sure, ', 'um ', 'uh ', 'okay, ', ''])}{s.name()}",
        lambda: (
            f"{s.pick(['it is', 'the name is', 'my name is', 'name is', 'that would be', 'that is'])} {s.name()}"  # noqa: E501
        ),
        lambda: f"{s.pick(['', 'um ', 'well '])}it's {s.name()}{s.pick(['', ' calling', ' here'])}",
        lambda: f"{s.name()}{s.pick([' here', ' speaking', ' calling', ''])}",
        lambda: " ".join(s.pick(s.last)),
        lambda: (
            f"{s.marked(s.pick(s.last))}, {s.pick(['', 'that is ', 'spelled '])}{' '.join(s.pick(s.last))}"
        ),
        lambda: f"{s.pick(['it has a', 'with a', 'with two', 'double'])} {s.pick(['l', 's', 'e', 'n', 't'])}",
        lambda: s.pick(
            [
                "yes",
                "yeah",
                "yep",
                "yes please",
                "sure",
                "that's right",
                "correct",
                "go ahead",
                "yeah do that",
                "please do",
                "sounds good",
                "perfect",
                "yes that works",
                "okay",
                "yeah that's fine",
                "mm hmm yes",
                "uh yes",
                "yes, go ahead",
                "do it",
                "that one",
                "yeah, the first one",
                "the second one",
                "the second one please",
                "the earlier one",
                "the later one",
                "the first one",
                "yeah do that one",
                "that works for me",
                "yes sorry i'm here",
                "sorry yes",
                "yes i'm still here",
                "absolutely",
            ]
        ),
        lambda: s.pick(
            [
                "no",
                "no thanks",
                "nope",
                "no that's wrong",
                "that's not right",
                "no, not that one",
                "actually no",
                "no wait",
                "hmm no",
                "no that's not it",
            ]
        ),
        lambda: s.pick(
            [
                "thanks",
                "thank you",
                "thanks so much",
                "great thank you",
                "that's all, bye",
                "no that's everything, thanks",
                "bye",
                "goodbye",
                "have a good day",
                "cheers",
                "that's it thanks",
                "okay thanks bye",
                "perfect, thanks for your help",
            ]
        ),
        lambda: s.pick(
            ["hi", "hello", "hey", "hi there", "good morning", "hello?", "yes hello", "hello, are you there"]
        ),
        lambda: s.pick(
            [
                "hold on",
                "one second",
                "hang on a sec",
                "give me a moment",
                "just a minute",
                "let me find it",
                "bear with me",
                "let me check",
            ]
        ),
        lambda: s.pick(["sorry, what", "can you repeat that", "say that again", "pardon", "come again"]),
        lambda: s.pick(["never mind", "forget it", "don't worry about it", "leave it"]),
        lambda: s.pick(
            [
                "i'll talk to billing then, thanks",
                "okay i'll call them myself",
                "i'll call back later",
                "i'll ask my husband and call you back",
                "okay i'll talk to my manager",
                "i'll speak to them then",
                "alright, i'll check with my wife",
                "i'll try that then",
            ]
        ),
        lambda: s.pick(
            ["um", "uh", "hmm", "okay", "right", "mm hmm", "i see", "oh okay", "got it", "alright"]
        ),
        lambda: f"{s.pick(['', 'um ', 'sorry, '])}{s.pick(['just ', 'only ', ''])}{s.date()}",
        lambda: (
            f"{s.pick(['how about ', 'what about ', 'maybe ', 'could we do ', ''])}{s.date()}{s.pick(['', ' please', ' if you have it', ' then'])}"  # noqa: E501
        ),
    ]
    if agent == "clinic":
        return [
            *common,
            lambda: s.birth(),
            lambda: (
                f"{s.pick(['my birthday is ', 'i was born ', 'born ', 'date of birth is ', 'it is ', ''])}{s.birth()}"  # noqa: E501
            ),
            lambda: (
                f"{s.pick(['', 'um ', 'how about '])}{s.time()}{s.pick(['', ' please', ' works', ' is fine'])}"  # noqa: E501
            ),
            lambda: f"{s.date()} at {s.time()}",
            lambda: (
                f"{s.pick(['with ', 'i prefer ', ''])}{s.provider()}{s.pick(['', ' please', ' if possible'])}"
            ),
            lambda: s.pick(
                [
                    "the morning",
                    "in the afternoon",
                    "mornings are better",
                    "anything after lunch",
                    "the earliest one",
                    "the later time",
                    "the first time you said",
                    "the nine thirty",
                ]
            ),
            lambda: s.pick(
                ["the one on " + s.date(), "the " + s.date() + " one", "my " + s.date() + " appointment"]
            ),
            lambda: f"my patient number is p {digit_words(str(s.rng.randint(1000, 1099)))}",
            lambda: (
                f"it's for my {s.pick(['son', 'daughter', 'mother', 'father', 'husband', 'wife'])}, {s.name()}"  # noqa: E501
            ),
        ]
    return [
        *common,
        lambda: s.employee_id(),
        lambda: f"{s.pick(['my id is ', 'employee id ', 'it is ', 'id ', ''])}{s.employee_id()}",
        lambda: f"{s.pick(['it is ', 'the number is ', '', 'number '])}{s.ticket()}",
        lambda: f"{s.name()}, {s.pick(s.departments)}",
        lambda: f"{s.name()} from {s.pick(s.departments)}",
        lambda: (
            f"{s.pick(['the ', 'my ', ''])}{s.pick(SYSTEMS)}{s.pick(['', ' one', ' password', ' please'])}"
        ),
        lambda: s.pick(
            [
                "it's urgent",
                "not urgent",
                "whenever you can",
                "pretty urgent actually",
                "low priority",
                "it's blocking me",
                "no rush",
                "high please",
                "medium is fine",
            ]
        ),
        lambda: f"{s.pick(['', 'it is ', 'it was ', 'the '])}{s.service()}",
    ]


def _fill(template: str, s: Slots) -> str:
    fills = {
        "date": s.date,
        "time": s.time,
        "provider": s.provider,
        "ticket": s.ticket,
        "service": s.service,
        "system": lambda: s.pick(SYSTEMS),
        "device": lambda: s.pick(DEVICES),
        "insurer": lambda: s.pick(INSURERS),
        "reason": s.reason,
        "who": s.who,
    }
    out = template
    for key, make in fills.items():
        while "{" + key + "}" in out:
            out = out.replace("{" + key + "}", make(), 1)
    return out


def utterances(agent: str, count: int, seed: int, *, mark_names: bool = False) -> list[tuple[str, str]]:
    """(utterance, label) pairs for `agent` ("clinic" or "helpdesk"): about a third answers (`none`);
    `mark_names` puts [[brackets]] around the caller's names, for training the name tagger."""
    rng = random.Random(f"{agent}:{seed}")
    s = Slots(rng, mark_names=mark_names)
    templates = clinic_templates() if agent == "clinic" else helpdesk_templates()
    replies = answers(agent, s)
    out: list[tuple[str, str]] = []
    while len(out) < count:
        if rng.random() < 0.35:
            text = replies[rng.randrange(len(replies))]()
            if rng.random() < 0.15:
                text = (
                    f"{text}, {rng.choice(STORIES[agent])}"
                    if rng.random() < 0.5
                    else rng.choice(STORIES[agent])
                )
            out.append((text, NONE))
            continue
        label, phrasings = templates[rng.randrange(len(templates))]
        core = _fill(rng.choice(phrasings), s)
        if agent == "helpdesk" and rng.random() < 0.15:
            core = rng.choice(ID_INTROS).format(eid=s.employee_id(), name=s.name()) + core
        text = rng.choice(OPENERS) + core + rng.choice(CLOSERS)
        roll = rng.random()
        if rng.random() < 0.3:
            story = rng.choice(STORIES[agent])
            text = rng.choice(OPENERS) + story + rng.choice(CONNECTORS) + core + rng.choice(CLOSERS)
            if rng.random() < 0.3:
                text += ". " + rng.choice(STORIES[agent])
        elif roll < 0.2:
            text = rng.choice(OPENERS) + rng.choice(INTROS).format(name=s.name()) + core + rng.choice(CLOSERS)
        elif roll < 0.45:
            text = text + rng.choice(OUTROS).format(name=s.name())
        out.append((text.strip(), label))
    return out
