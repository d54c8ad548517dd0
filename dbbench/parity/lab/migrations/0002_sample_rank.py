from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("paritylab", "0001_initial")]

    operations = [
        migrations.CreateModel(
            name="Rank",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("pos", models.IntegerField(unique=True)),
            ],
        ),
        migrations.CreateModel(
            name="Sample",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("label", models.CharField(max_length=20, unique=True)),
                ("text", models.CharField(max_length=100, null=True)),
                ("n", models.IntegerField(null=True)),
                ("d", models.IntegerField(null=True)),
                ("dec", models.DecimalField(decimal_places=4, max_digits=12, null=True)),
                ("f", models.FloatField(null=True)),
                ("flag", models.BooleanField(null=True)),
                ("day", models.DateField(null=True)),
                ("at", models.DateTimeField(null=True)),
                ("clock", models.TimeField(null=True)),
                ("span", models.DurationField(null=True)),
            ],
        ),
    ]
