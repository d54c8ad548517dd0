"""The quiz app: the Django model layer every backend runs unchanged (students, quizzes, questions, attempts)."""

# The app's tables in dependency order (parents first): seeding, settling, checksums and copies walk them so.
ATTEMPT_TABLE = "quiz_quizattempt"
QUIZ_TABLES = ("quiz_student", "quiz_quiz", "quiz_question", ATTEMPT_TABLE)
