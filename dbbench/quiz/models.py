"""The quiz app: one model layer, portable Django fields only, identical on every backend."""

from __future__ import annotations

from django.db import models


class Student(models.Model):
    name = models.CharField(max_length=200)
    # 254 is the RFC 5321 limit; utf8mb4 x 254 = 1016 bytes stays under InnoDB's 3072-byte key limit.
    email = models.EmailField(max_length=254, unique=True)
    signed_up_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.email


class Quiz(models.Model):
    title = models.CharField(max_length=200)
    topic = models.CharField(max_length=100, db_index=True)
    created_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "quizzes"

    def __str__(self) -> str:
        return self.title


class Question(models.Model):
    quiz = models.ForeignKey(Quiz, on_delete=models.CASCADE, related_name="questions")
    position = models.PositiveSmallIntegerField()
    text = models.TextField()
    choices = models.JSONField()  # a list of option strings
    correct_choice = models.PositiveSmallIntegerField()  # index into choices

    class Meta:
        ordering = ["quiz_id", "position"]
        constraints = [models.UniqueConstraint(fields=["quiz", "position"], name="question_quiz_position_uniq")]

    def __str__(self) -> str:
        return f"{self.quiz_id}#{self.position}"


class QuizAttempt(models.Model):
    """One student's go at one quiz.

    ``answers`` maps question keys (``"q1"``, ``"q2"``...) to ``{"choice": int, "time_ms": int, "changed": bool}``;
    ``meta`` holds the client: ``{"device": str, "browser": {"name": str, "version": str}, "ip": str}``.
    """

    student = models.ForeignKey(Student, on_delete=models.CASCADE, related_name="attempts")
    quiz = models.ForeignKey(Quiz, on_delete=models.CASCADE, related_name="attempts")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    score = models.SmallIntegerField()  # percent correct, 0-100
    answers = models.JSONField()
    meta = models.JSONField(default=dict)

    class Meta:
        indexes = [
            # A student's recent attempts: WHERE student_id = ? ORDER BY started_at DESC LIMIT 20.
            models.Index(fields=["student", "-started_at"], name="attempt_student_recent"),
            # A quiz's leaderboard: best score per student within one quiz (GROUP BY student, MAX(score)).
            models.Index(fields=["quiz", "student", "score"], name="attempt_quiz_leaderboard"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(score__gte=0) & models.Q(score__lte=100), name="attempt_score_0_100"
            ),
        ]

    def __str__(self) -> str:
        return f"attempt {self.pk}"


class SeedState(models.Model):
    """The seeder's progress, written in the same transaction as each batch of rows (see ``dbbench.seed.seeding``).

    One row (id 1). Rows with ids ``1..attempts`` of QuizAttempt (and ``1..students`` of Student) are the
    seeder's; data made with another ``recipe`` (seed, generator and library versions) is replaced, not grown.
    """

    recipe = models.CharField(max_length=200)
    seed = models.BigIntegerField()
    attempts = models.BigIntegerField()
    students = models.BigIntegerField()
    updated_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.attempts} attempts ({self.recipe})"
