"""Word lists of the rule-based motion-prompt extractor: what a body does, and what it does not.

Everything is lower case. Verbs are listed by lemma; `VERB_FORMS` expands them into every
inflected form (walks, walking, walked) with the regular English rules plus the irregular table.
"""

from __future__ import annotations


def _words(text: str) -> frozenset[str]:
    """The whitespace-separated words of `text` (keeps the long lists below readable)."""
    return frozenset(text.split())


# ------------------------------------------------------------------------------------------------
# Verbs

#: Lemmas of verbs that describe what a body does (locomotion, postures, gestures, sports moves).
MOTION_VERBS = _words(
    """
    walk run jog sprint dash jump hop leap skip dance waltz tango breakdance moonwalk spin twirl turn
    rotate pivot twist sit stand kneel crouch squat lie lean bend stretch crawl climb roll flip backflip
    cartwheel somersault fall collapse stumble trip limp stagger march stride tiptoe sneak creep shuffle
    pace stroll wander glide slide skate ski swim dive kick punch throw toss catch swing wave clap raise
    lift lower nod shake bow curtsy salute point reach grab pick put place carry hold push pull drag hug
    balance bounce sway shrug stomp stamp tap step move go get rise duck dodge lunge box fight spar
    wrestle block strike hit shoot dribble celebrate stop slow exercise practice perform do play take make
    look touch ride flail wobble rest wiggle hurry rush gallop descend ascend scramble land cross dunk row paddle
    """
)

#: Verbs whose meaning lives in their object ("does a backflip", "plays tennis"): kept only with one.
LIGHT_VERBS = frozenset({"do", "perform", "practice", "play", "take", "make"})

#: Verbs that say little without a complement ("looks" alone is gaze, "looks around" is motion).
WEAK_VERBS = frozenset({"look", "go", "get", "cross"})

#: Irregular forms: lemma -> forms other than those the regular rules produce.
IRREGULAR_FORMS = {
    "run": ("ran",),
    "sit": ("sat",),
    "stand": ("stood",),
    "lie": ("lay", "lain", "lying"),
    "fall": ("fell", "fallen"),
    "throw": ("threw", "thrown"),
    "swing": ("swung",),
    "spin": ("spun",),
    "leap": ("leapt",),
    "kneel": ("knelt",),
    "bend": ("bent",),
    "shake": ("shook", "shaken"),
    "take": ("took", "taken"),
    "do": ("did", "done"),
    "go": ("went", "gone"),
    "get": ("got", "gotten"),
    "rise": ("rose", "risen"),
    "catch": ("caught",),
    "hold": ("held",),
    "strike": ("struck",),
    "swim": ("swam", "swum"),
    "dive": ("dove",),
    "creep": ("crept",),
    "stride": ("strode",),
    "fight": ("fought",),
    "ride": ("rode", "ridden"),
    "make": ("made",),
    "slide": ("slid",),
}

# "shot" (past of "shoot") is left out on purpose: in prompts it is nearly always a camera shot.

#: Lemmas whose final consonant doubles before -ing / -ed (run -> running, hop -> hopped).
DOUBLED_CONSONANT = _words(
    "run sit spin swim hop skip jog step trip clap nod squat flip backflip drag stop get hit put tap grab "
    "shrug hug spar"
)

#: Aspect and auxiliary words dropped before a verb ("starts to run", "is running").
AUXILIARIES = _words(
    "is are was were be been being am starts start started begins begin began continues continue keeps "
    "keep tries try proceeds then"
)

#: Transitive phrasal verbs: the particle belongs to the verb and the noun after it is its object.
PHRASAL_TRANSITIVE = frozenset(
    {
        ("pick", "up"),
        ("put", "down"),
        ("put", "on"),
        ("put", "away"),
        ("take", "off"),
        ("lift", "up"),
        ("hold", "up"),
        ("hold", "out"),
        ("throw", "away"),
        ("put", "back"),
        ("set", "down"),
    }
)

# ------------------------------------------------------------------------------------------------
# Words kept around a verb

#: Directions and particles (adverbs; multiword ones are joined with "_" by the tokenizer).
DIRECTIONS = _words(
    """
    forward forwards backward backwards back sideways left right up down around away ahead aside upward
    upwards downward downwards clockwise counterclockwise counter-clockwise anticlockwise anti-clockwise
    diagonally in_place on_the_spot back_and_forth side_to_side up_and_down off out over apart inward
    outward uphill downhill overhead straight still upright
    """
)

#: Prepositions that double as particles when no noun follows ("gets up", "jumps off").
PARTICLES = frozenset({"up", "down", "over", "around", "off", "out", "back", "away", "in"})

#: Adverbs of tempo and manner that change how a motion looks.
TEMPO_MANNER = _words(
    """
    slowly quickly fast rapidly swiftly briskly leisurely gradually suddenly immediately hastily hurriedly
    steadily continuously repeatedly rhythmically slow quick gracefully elegantly energetically
    vigorously powerfully gently carefully cautiously clumsily awkwardly smoothly lazily wildly heavily
    lightly softly stiffly loosely confidently proudly aggressively casually calmly nervously happily
    joyfully sadly angrily tiredly wearily excitedly playfully frantically hesitantly fluidly dynamically
    sluggishly unsteadily drunkenly limply firmly forcefully explosively athletically alternately
    simultaneously deeply hard high low far wide
    """
)

#: Counts: adverbs on their own.
COUNT_ADVERBS = frozenset({"once", "twice", "thrice", "again"})

#: Number words that count (also accepted: digits).
NUMBERS = _words(
    """
    one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen
    seventeen eighteen nineteen twenty thirty forty fifty hundred few several multiple many couple
    """
)

#: Determiners that may open a noun phrase.
DETERMINERS = _words(
    "a an the his her their its my your our both each either all this that these those some every another other"
)

#: Possessives, rewritten "their" so the subject stays "a person".
POSSESSIVES = frozenset({"his", "her", "their", "its", "my", "your", "our"})

#: Object pronouns kept after a verb ("carries it").
OBJECT_PRONOUNS = frozenset({"it", "them", "something"})

#: Body parts (singular and plural).
BODY_PARTS = _words(
    """
    arm arms hand hands leg legs foot feet knee knees head shoulder shoulders hip hips elbow elbows wrist
    wrists torso body back chest waist fist fists finger fingers toe toes neck heel heels stomach belly
    side sides thigh thighs ankle ankles palm palms spine trunk all_fours upper_body lower_body
    """
)

#: Modifiers kept inside a body-part or prop noun phrase.
SIDES = frozenset({"left", "right", "both", "each", "either", "other", "opposite", "upper", "lower", "front"})

#: Adjectives that change the physics of a motion or prop (size, weight, height, speed).
PHYSICAL_ADJECTIVES = _words(
    """
    heavy big large small tiny huge little long short high low tall deep full half wide narrow quick fast
    slow brisk steady single double triple light
    """
)

#: Ordinals, kept in noun phrases ("their first steps") and skipped when telling nouns from verbs.
ORDINALS = frozenset({"first", "second", "third", "last", "next", "final"})

#: Participles that describe a body part's pose ("with arms crossed").
POSTURE_PARTICIPLES = _words(
    """
    crossed raised outstretched folded extended bent stretched spread lowered lifted clasped open closed
    straight apart up down
    """
)

#: Props and surfaces a body interacts with: kept after a preposition ("sits on a chair").
INTERACTION_NOUNS = _words(
    """
    chair chairs bench stool sofa couch bed table desk floor ground stairs staircase steps step ladder
    wall box boxes ball rope bar bars obstacle obstacles hurdle hurdles fence door doorway platform pole
    ramp slope hill incline treadmill mattress trampoline beam rail railing log rock cane crutch crutches
    weight weights dumbbell dumbbells barbell kettlebell bag bags suitcase bucket cup bottle umbrella
    racket bat stick sword shield air water boat canoe kayak oar paddle bicycle bike horse skateboard
    scooter surfboard skis
    """
)

#: Nouns naming motions: kept as objects ("does a backflip") and after prepositions ("to a walk").
MOTION_NOUNS = _words(
    """
    kick kicks punch punches jump jumps hop hops leap leaps pirouette pirouettes cartwheel cartwheels
    backflip backflips flip flips somersault somersaults handstand handstands split splits squat squats
    lunge lunges push-up push-ups pushup pushups sit-up sit-ups situp situps pull-up pull-ups pullup
    pullups jumping_jacks burpee burpees dance dances walk run jog sprint step steps turn turns spin
    spins bow salute wave stretch stretches exercise exercises routine moves move tai_chi yoga pilates
    karate kung_fu taekwondo moonwalk waltz tango salsa ballet breakdance twirl twirls roll rolls crawl
    swing swings throw throws jumping_jack hip_hop pose poses stance posture dunk
    """
)

#: Sports and disciplines, the objects of "plays" / "practices".
SPORTS = _words(
    """
    basketball tennis soccer football golf baseball volleyball badminton boxing hockey cricket rugby
    handball squash table_tennis ping-pong frisbee catch
    """
)

#: Nouns that count repetitions ("three times", "two steps").
COUNT_NOUNS = frozenset({"time", "times", "rep", "reps", "repetition", "repetitions", "lap", "laps", "round", "rounds"})

#: Nouns of shape, side and direction kept after a preposition ("in a circle", "to the left").
PATH_NOUNS = _words(
    """
    circle circles line lines zigzag spiral loop loops square figure_eight left right side sides front
    direction directions place spot air track
    """
)

#: Nouns of tempo and duration kept after a preposition ("at a fast pace", "for five seconds").
TEMPO_NOUNS = _words(
    """
    pace speed tempo rhythm second seconds minute minutes moment moments while beat beats
    """
)

#: Verbs whose object may be a person or animal ("carries a baby", "lifts a child").
HANDLING_VERBS = frozenset({"carry", "hold", "lift", "hug", "push", "pull", "drag", "catch", "throw"})

#: Things that move in a scene without being the person: verbs after them are not the person's.
NON_HUMAN_SUBJECTS = _words(
    """
    camera cameras drone lens shot view frame sun light lights wind rain snow leaves trees clouds car cars
    water waves crowd audience dog dogs cat cats bird birds horse horses ball
    """
)

#: Nouns naming people: the subject (rewritten "a person"), never kept as an object.
PERSON_NOUNS = _words(
    """
    man men woman women person people boy boys girl girls child children kid kids dancer dancers athlete
    athletes player players guy guys lady ladies gentleman soldier soldiers runner runners boxer boxers
    ballerina teenager teen someone somebody figure character human individual adult toddler baby
    skater gymnast hiker astronaut partner partners crowd audience friend friends couple
    """
)

#: Connectors that join clauses, as they are written out again.
CLAUSE_CONNECTORS = frozenset({"and", "then", "while", "as", "before", "after", "until", "but", "or"})

#: Connectors after which a verb reads as a gerund ("while waving", "after jumping").
GERUND_CONNECTORS = frozenset({"while", "as", "before", "after", "until"})

#: Words joining kept pieces inside one verb phrase ("slowly and gracefully").
INNER_CONJUNCTIONS = frozenset({"and", "or", "followed_by"})

PREPOSITIONS = _words(
    """
    on onto in into at to toward towards from with over under across through along around up down off
    behind past near by beside against between inside outside during above below underneath upon within
    without for of like via among amid next_to out
    """
)

#: Prepositions after which a gerund is a noun ("in running shoes"), not a verb.
NOUN_GERUND_PREPOSITIONS = frozenset({"in", "with", "on", "at", "for", "into"})

#: Multiword expressions joined into one token before parsing (longest first).
MULTIWORD = (
    ("back", "and", "forth"),
    ("side", "to", "side"),
    ("up", "and", "down"),
    ("on", "the", "spot"),
    ("all", "fours"),
    ("figure", "eight"),
    ("in", "place"),
    ("jumping", "jacks"),
    ("jumping", "jack"),
    ("hip", "hop"),
    ("star", "jumps"),
    ("push", "ups"),
    ("sit", "ups"),
    ("pull", "ups"),
    ("tai", "chi"),
    ("kung", "fu"),
    ("table", "tennis"),
    ("slow", "motion"),
    ("followed", "by"),
    ("next", "to"),
    ("upper", "body"),
    ("lower", "body"),
)
